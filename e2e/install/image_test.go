package install

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

const imageVersion = "v0.0.0-imagetest"

var (
	imageOnce sync.Once
	imageTar  string
	imageErr  error
)

// builtImage runs `make image` once per test binary into a temporary
// file and returns the archive's path.
func builtImage(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary and the image (not in -short mode)")
	}
	imageOnce.Do(func() {
		dir, err := os.MkdirTemp("", "carina-image-test-")
		if err != nil {
			imageErr = err
			return
		}
		imageTar = filepath.Join(dir, "carina.tar")
		cmd := exec.Command("make", "--no-print-directory", "image", "IMAGE_TAR="+imageTar, "VERSION="+imageVersion)
		cmd.Dir = repoPath(".")
		if out, err := cmd.CombinedOutput(); err != nil {
			imageErr = errors.New("make image: " + err.Error() + "\n" + string(out))
		}
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return imageTar
}

// readImage reads the one image of an OCI layout archive.
func readImage(t *testing.T, archive string) v1.Image {
	t.Helper()
	dir := t.TempDir()
	untar(t, archive, dir)
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("%d images in the archive, want 1", len(m.Manifests))
	}
	if got := m.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; got != "carina:"+imageVersion {
		t.Errorf("ref.name %q, want carina:%s", got, imageVersion)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// untar unpacks regular files and directories of archive into dir.
func untar(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	extract(t, f, dir, nil)
}

// extract unpacks a tar stream into dir; with only, just those entries.
func extract(t *testing.T, r io.Reader, dir string, only map[string]bool) map[string]*tar.Header {
	t.Helper()
	headers := map[string]*tar.Header{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return headers
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Clean(h.Name)
		if strings.HasPrefix(name, "..") || filepath.IsAbs(name) {
			t.Fatalf("entry %q leaves the archive", h.Name)
		}
		headers[filepath.ToSlash(name)] = h
		if h.Typeflag != tar.TypeReg || (only != nil && !only[filepath.ToSlash(name)]) {
			continue
		}
		target := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, tr); err != nil {
			t.Fatal(err)
		}
		out.Close()
	}
}

// TestImage: `make image` writes an OCI image whose config runs carina
// as 65532:65532 with the version and source labels, and whose one layer
// holds the static binary, which runs.
func TestImage(t *testing.T) {
	img := readImage(t, builtImage(t))
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/carina"}) {
		t.Errorf("entrypoint %q, want /usr/local/bin/carina", c.Entrypoint)
	}
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532", c.User)
	}
	if cf.OS != "linux" {
		t.Errorf("os %q, want linux", cf.OS)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.version": imageVersion,
		"org.opencontainers.image.source":  "https://github.com/carina-gitops/carina",
	} {
		if got := c.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if c.Labels["org.opencontainers.image.revision"] == "" {
		t.Error("no revision label")
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers (%v), want 1 on an empty base", len(layers), err)
	}
	dir := t.TempDir()
	rc := mutate.Extract(img)
	defer rc.Close()
	headers := extract(t, rc, dir, map[string]bool{"usr/local/bin/carina": true})
	for name, mode := range map[string]int64{"usr/local/bin/carina": 0o755, "etc/ssl/certs/ca-certificates.crt": 0o644, "etc/passwd": 0o644, "tmp": 0o1777} {
		h := headers[name]
		if h == nil || h.Mode != mode || h.Uid != 0 {
			t.Errorf("%s: %+v, want mode %o owned by root", name, h, mode)
		}
	}
	bin := filepath.Join(dir, "usr/local/bin/carina")
	if out, err := exec.Command("file", bin).CombinedOutput(); err == nil && !strings.Contains(string(out), "statically linked") {
		t.Errorf("the binary is not static: %s", out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), imageVersion) {
		t.Errorf("carina version: %v\n%s", err, out)
	}
	checkConfigMapConfig(t, bin)
}

// checkConfigMapConfig runs `carina agent --check` with the carina.yaml
// of the kustomize base's ConfigMap and of the chart's, and the
// environment the Deployment gives it from the Secret.
func checkConfigMapConfig(t *testing.T, bin string) {
	t.Helper()
	configs := map[string]string{}
	for _, o := range objects(t, kustomize(t, "deploy/kustomize/base")) {
		if o.Kind == "ConfigMap" && strings.HasPrefix(o.Metadata.Name, "carina-config") {
			configs["kustomize"] = o.Data["carina.yaml"].(string)
		}
	}
	configs["chart"] = find(t, objects(t, mustRender(t, nil)), "ConfigMap", "carina-config").Data["carina.yaml"].(string)
	for name, text := range configs {
		path := filepath.Join(t.TempDir(), "carina.yaml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "agent", "--check", "--config", path)
		cmd.Env = append(os.Environ(), "CARINA_GITHUB_WEBHOOK_SECRET=s3cret", "CARINA_API_TOKEN=t0ken", "CARINA_GIT_PASSWORD=pa55")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "is valid") {
			t.Errorf("%s ConfigMap: carina agent --check: %v\n%s", name, err, out)
		}
		t.Logf("%s ConfigMap: %s", name, strings.TrimSpace(string(out)))
	}
}
