package helm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/repo"
	"sigs.k8s.io/yaml"
)

// loadFromRepo resolves name and version (an exact version or a semver
// range; empty means the newest stable) in an HTTP(S) chart repository,
// downloads the archive and checks its digest when the index gives one.
func loadFromRepo(ctx context.Context, repoURL, name, version string, o Options) (*chart.Chart, error) {
	shown := redactURL(repoURL) + " chart " + name
	idx, fresh, err := repoIndex(ctx, repoURL, o, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", shown, err)
	}
	cv, err := idx.Get(name, version)
	if err != nil && !fresh {
		// The cached index may predate the version: fetch it once more.
		if idx, _, err = repoIndex(ctx, repoURL, o, true); err != nil {
			return nil, fmt.Errorf("%s: %w", shown, err)
		}
		cv, err = idx.Get(name, version)
	}
	if err != nil {
		return nil, fmt.Errorf("%s version %q: %w", shown, version, err)
	}
	if len(cv.URLs) == 0 {
		return nil, fmt.Errorf("%s %s: the index gives no download URL", shown, cv.Version)
	}
	chartURL, err := resolveChartURL(repoURL, cv.URLs[0])
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", shown, cv.Version, err)
	}
	data, err := chartArchive(ctx, chartURL, cv.Digest, o)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", shown, cv.Version, err)
	}
	c, err := loadArchive(data, o)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", shown, cv.Version, err)
	}
	return c, nil
}

// repoIndex returns the repository's index, from the disk cache when it is
// younger than IndexTTL and force is false. fresh says it was just fetched.
func repoIndex(ctx context.Context, repoURL string, o Options, force bool) (idx *repo.IndexFile, fresh bool, err error) {
	cached := ""
	if o.CacheDir != "" {
		cached = filepath.Join(o.CacheDir, "index", hashKey(repoURL+cacheSalt(forRepo(o.Credentials, repoURL)))+".yaml")
	}
	if cached != "" && !force {
		if st, err := os.Stat(cached); err == nil && time.Since(st.ModTime()) < o.IndexTTL && st.Size() <= o.MaxIndexBytes {
			if data, err := os.ReadFile(cached); err == nil {
				if idx, err := parseIndex(data); err == nil {
					return idx, false, nil
				}
			}
		}
	}
	u, err := url.Parse(repoURL)
	if err != nil {
		return nil, false, fmt.Errorf("repoURL: %w", errors.Unwrap(err))
	}
	data, err := download(ctx, o.httpClient(), u.JoinPath("index.yaml").String(), o.MaxIndexBytes)
	if err != nil {
		return nil, false, fmt.Errorf("index.yaml: %w", err)
	}
	idx, err = parseIndex(data)
	if err != nil {
		return nil, false, fmt.Errorf("index.yaml: %w", err)
	}
	if cached != "" {
		_ = writeCache(cached, data) // the cache is an optimisation only
	}
	return idx, true, nil
}

func parseIndex(data []byte) (*repo.IndexFile, error) {
	var idx repo.IndexFile
	if err := yaml.Unmarshal(data, &idx); err != nil {
		return nil, err
	}
	if idx.APIVersion == "" {
		return nil, errors.New("no apiVersion: not a chart repository index")
	}
	for name, cvs := range idx.Entries {
		kept := cvs[:0]
		for _, cv := range cvs {
			if cv != nil && cv.Metadata != nil {
				kept = append(kept, cv)
			}
		}
		idx.Entries[name] = kept
	}
	idx.SortEntries()
	return &idx, nil
}

func resolveChartURL(repoURL, ref string) (string, error) {
	base, err := url.Parse(repoURL)
	if err != nil {
		return "", fmt.Errorf("repoURL: %w", errors.Unwrap(err))
	}
	base = base.JoinPath("/") // relative URLs resolve inside the repository
	u, err := base.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("chart URL: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("chart URL %s: the scheme must be https or http", redactURL(u.String()))
	}
	return u.String(), nil
}

// chartArchive downloads a chart archive, or takes it from the disk cache.
// When the index gives a digest (sha256, hex) the bytes must match it,
// wherever they come from.
func chartArchive(ctx context.Context, chartURL, digest string, o Options) ([]byte, error) {
	digest = strings.ToLower(strings.TrimPrefix(digest, "sha256:"))
	cached := ""
	if o.CacheDir != "" {
		key := digest
		if key == "" {
			key = hashKey(chartURL)
		}
		if salt := cacheSalt(forRepo(o.Credentials, chartURL)); salt != "" {
			key = hashKey(key + salt)
		}
		cached = filepath.Join(o.CacheDir, "charts", key+".tgz")
		if st, err := os.Stat(cached); err == nil && st.Size() <= o.MaxArchiveBytes {
			if data, err := os.ReadFile(cached); err == nil && digestMatches(data, digest) {
				return data, nil
			}
		}
	}
	data, err := download(ctx, o.httpClient(), chartURL, o.MaxArchiveBytes)
	if err != nil {
		return nil, err
	}
	if !digestMatches(data, digest) {
		return nil, fmt.Errorf("archive %s: sha256 %s does not match the index's digest %s", redactURL(chartURL), sha256Hex(data), digest)
	}
	if cached != "" {
		_ = writeCache(cached, data)
	}
	return data, nil
}

func digestMatches(data []byte, digest string) bool {
	return digest == "" || sha256Hex(data) == digest
}

// download GETs u and returns at most limit bytes, or an error.
func download(ctx context.Context, client *http.Client, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", redactURL(u), err)
	}
	resp, err := client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // url.Error repeats the URL with its query
		}
		return nil, fmt.Errorf("GET %s: %w", redactURL(u), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", redactURL(u), resp.Status)
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("GET %s: %d bytes, over the size cap of %d", redactURL(u), resp.ContentLength, limit)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", redactURL(u), err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("GET %s: over the size cap of %d bytes", redactURL(u), limit)
	}
	return data, nil
}

// writeCache writes a cache file atomically, so that concurrent renders
// never read half of one.
func writeCache(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), name)
}

func hashKey(s string) string { return sha256Hex([]byte(s)) }

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
