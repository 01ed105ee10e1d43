package helm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/ignore"
)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// budget counts the files and bytes a chart may still take.
type budget struct {
	files    int
	bytes    int64
	maxFiles int
	maxFile  int64
	maxBytes int64
}

func newBudget(o Options) *budget {
	return &budget{
		files: o.MaxChartFiles, bytes: o.MaxChartBytes,
		maxFiles: o.MaxChartFiles, maxFile: o.MaxFileBytes, maxBytes: o.MaxChartBytes,
	}
}

// take charges one file of size n, or says which cap it breaks.
func (b *budget) take(name string, n int64) error {
	if n > b.maxFile {
		return fmt.Errorf("chart file %s is %d bytes, over the %d-byte file cap", name, n, b.maxFile)
	}
	b.files--
	if b.files < 0 {
		return fmt.Errorf("chart has more files than the cap of %d", b.maxFiles)
	}
	b.bytes -= n
	if b.bytes < 0 {
		return fmt.Errorf("chart is over the size cap of %d bytes", b.maxBytes)
	}
	return nil
}

// loadChartFS loads the chart whose directory is dir inside fsys. It reads
// only through fsys, honours .helmignore like helm's own directory loader,
// and charges every file to the budget. A path that ends in .tgz is read as
// a chart archive instead.
func loadChartFS(fsys fs.FS, dir string, o Options) (*chart.Chart, error) {
	info, err := fs.Stat(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", dir, err)
	}
	if !info.IsDir() {
		if !strings.HasSuffix(dir, ".tgz") && !strings.HasSuffix(dir, ".tar.gz") {
			return nil, fmt.Errorf("chart %s is neither a directory nor a .tgz archive", dir)
		}
		data, err := readCapped(fsys, dir, o.MaxArchiveBytes)
		if err != nil {
			return nil, fmt.Errorf("chart %s: %w", dir, err)
		}
		return loadArchive(data, o)
	}
	rules, err := helmIgnoreRules(fsys, dir)
	if err != nil {
		return nil, err
	}
	b := newBudget(o)
	var files []*loader.BufferedFile
	err = fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel := strings.TrimPrefix(p, dir+"/")
		if dir == "." {
			rel = p
		}
		f, skip, err := readChartEntry(fsys, p, rel, d, rules, b)
		if err != nil || skip {
			return err
		}
		files = append(files, f...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", dir, err)
	}
	files, err = expandSubchartArchives(files, b)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", dir, err)
	}
	c, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", dir, err)
	}
	return c, nil
}

func helmIgnoreRules(fsys fs.FS, dir string) (*ignore.Rules, error) {
	rules := ignore.Empty()
	data, err := fs.ReadFile(fsys, path.Join(dir, ignore.HelmIgnore))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("chart %s: %w", dir, err)
	default:
		if rules, err = ignore.Parse(bytes.NewReader(data)); err != nil {
			return nil, fmt.Errorf("chart %s: %s: %w", dir, ignore.HelmIgnore, err)
		}
	}
	rules.AddDefaults()
	return rules, nil
}

// readChartEntry reads one walked entry. Symlinks are followed through fsys,
// which refuses those that leave the repository; a symlink to a directory is
// refused, since walking it could loop.
func readChartEntry(fsys fs.FS, p, rel string, d fs.DirEntry, rules *ignore.Rules, b *budget) ([]*loader.BufferedFile, bool, error) {
	info, err := d.Info()
	if err != nil {
		return nil, false, err
	}
	if d.Type()&fs.ModeSymlink != 0 {
		if info, err = fs.Stat(fsys, p); err != nil {
			return nil, false, fmt.Errorf("symlink %s: %w", rel, err)
		}
		if info.IsDir() {
			if rules.Ignore(rel, info) {
				return nil, true, nil
			}
			return nil, false, fmt.Errorf("symlink %s points to a directory, which charts may not contain", rel)
		}
	}
	if info.IsDir() {
		if rules.Ignore(rel, info) {
			return nil, true, fs.SkipDir
		}
		return nil, true, nil
	}
	if rules.Ignore(rel, info) {
		return nil, true, nil
	}
	if !info.Mode().IsRegular() {
		return nil, false, fmt.Errorf("chart file %s is not a regular file", rel)
	}
	if err := b.take(rel, info.Size()); err != nil {
		return nil, false, err
	}
	data, err := readCapped(fsys, p, b.maxFile)
	if err != nil {
		return nil, false, err
	}
	return []*loader.BufferedFile{{Name: rel, Data: bytes.TrimPrefix(data, utf8BOM)}}, false, nil
}

// readCapped reads a whole file, refusing more than limit bytes even if the
// file grows while it is read.
func readCapped(fsys fs.FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is over the size cap of %d bytes", name, limit)
	}
	return data, nil
}
