package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

type imageT = v1.Image

// User is the image's user and group: not root, and the same number as
// distroless's "nonroot".
const User = "65532:65532"

// Entrypoint is where the binary lives in the image.
const Entrypoint = "/usr/local/bin/carina"

// buildOptions say what goes into the image.
type buildOptions struct {
	Binary, Version, Revision, Source, CABundle, Arch string
}

// maxBinary bounds the binary read into memory.
const maxBinary = 512 << 20

// build assembles the image: one layer with the binary, /etc/passwd and
// /etc/group naming the nonroot user, the CA bundle and an empty /tmp,
// all with the zero time so that a build is reproducible.
func build(o buildOptions) (v1.Image, error) {
	if o.Binary == "" {
		return nil, fmt.Errorf("-binary is required")
	}
	bin, err := readLimited(o.Binary, maxBinary)
	if err != nil {
		return nil, err
	}
	files := []file{
		{name: "etc/", dir: true, mode: 0o755},
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: "home/", dir: true, mode: 0o755},
		{name: "home/nonroot/", dir: true, mode: 0o700, uid: 65532},
		{name: "tmp/", dir: true, mode: 0o1777},
		{name: "usr/", dir: true, mode: 0o755},
		{name: "usr/local/", dir: true, mode: 0o755},
		{name: "usr/local/bin/", dir: true, mode: 0o755},
		{name: "usr/local/bin/carina", mode: 0o755, data: bin},
	}
	if o.CABundle != "" {
		ca, err := readLimited(o.CABundle, 4<<20)
		if err != nil {
			return nil, err
		}
		files = append(files, file{name: "etc/ssl/", dir: true, mode: 0o755}, file{name: "etc/ssl/certs/", dir: true, mode: 0o755},
			file{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca})
	}
	layerTar, err := tarFiles(files)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", o.Arch
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config = v1.Config{
		Entrypoint: []string{Entrypoint},
		Cmd:        []string{"agent", "--config", "/etc/carina/carina.yaml"},
		User:       User,
		WorkingDir: "/",
		Env:        []string{"PATH=/usr/local/bin", "HOME=/home/nonroot", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		Labels:     labels(o),
	}
	return mutate.ConfigFile(img, cf)
}

// labels are the OCI annotations of the image's config.
func labels(o buildOptions) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":       "carina",
		"org.opencontainers.image.description": "Carina, a GitOps agent",
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.source":      o.Source,
		"org.opencontainers.image.licenses":    "Apache-2.0",
	}
	if o.Revision != "" {
		l["org.opencontainers.image.revision"] = o.Revision
	}
	return l
}

// file is one entry of the layer.
type file struct {
	name string
	dir  bool
	mode int64
	uid  int
	data []byte
}

func tarFiles(files []file) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.uid, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if f.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil { // writes the end-of-archive blocks
		return nil, err
	}
	return buf.Bytes(), nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}
