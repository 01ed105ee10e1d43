package registry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"maps"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// Media types and annotations of `flux push artifact`.
const (
	FluxConfigMediaType  = "application/vnd.cncf.flux.config.v1+json"
	FluxContentMediaType = "application/vnd.cncf.flux.content.v1.tar+gzip"
	AnnotationSource     = "org.opencontainers.image.source"
	AnnotationRevision   = "org.opencontainers.image.revision"
	AnnotationCreated    = "org.opencontainers.image.created"
)

// Repository returns an oras client for repo with the registry's
// credentials.
func (r *Registry) Repository(t testing.TB, repo string) *remote.Repository {
	t.Helper()
	rp, err := remote.NewRepository(r.Host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	rp.PlainHTTP = r.Scheme == "http"
	rp.Client = &auth.Client{
		Client:     r.HTTPClient(),
		Cache:      auth.NewCache(),
		Credential: auth.StaticCredential(r.Host, auth.Credential{Username: r.opts.Username, Password: r.opts.Password}),
	}
	return rp
}

// PushFlux pushes files as `flux push artifact` does: a config blob of
// the Flux config type, one gzip tarball layer of the Flux content type,
// and the source, revision and created annotations on the manifest. It
// tags the manifest and returns its digest.
func (r *Registry) PushFlux(t testing.TB, repo, tag string, files map[string]string) string {
	t.Helper()
	layer := Tarball(t, files)
	ann := map[string]string{
		AnnotationSource:   "https://github.com/acme/shop-deploy",
		AnnotationRevision: tag + "@sha1:0123456789abcdef0123456789abcdef01234567",
		AnnotationCreated:  time.Now().UTC().Format(time.RFC3339),
	}
	return r.PushLayer(t, repo, tag, FluxContentMediaType, layer, ann)
}

// PushLayer pushes one layer of mediaType under the Flux config, with
// annotations, tags it and returns the manifest digest.
func (r *Registry) PushLayer(t testing.TB, repo, tag, mediaType string, layer []byte, ann map[string]string) string {
	t.Helper()
	ctx := context.Background()
	rp := r.Repository(t, repo)
	cfg := []byte("{}")
	cfgDesc := content.NewDescriptorFromBytes(FluxConfigMediaType, cfg)
	layerDesc := content.NewDescriptorFromBytes(mediaType, layer)
	for _, b := range []struct {
		d ocispec.Descriptor
		b []byte
	}{{cfgDesc, cfg}, {layerDesc, layer}} {
		if err := rp.Push(ctx, b.d, bytes.NewReader(b.b)); err != nil && !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("push blob: %v", err)
		}
	}
	desc, err := oras.PackManifest(ctx, rp, oras.PackManifestVersion1_0, "", oras.PackManifestOptions{
		ConfigDescriptor: &cfgDesc, Layers: []ocispec.Descriptor{layerDesc}, ManifestAnnotations: ann,
	})
	if err != nil {
		t.Fatalf("push manifest: %v", err)
	}
	if err := rp.Tag(ctx, desc, tag); err != nil {
		t.Fatalf("tag %s: %v", tag, err)
	}
	return desc.Digest.String()
}

// Tarball makes a gzip tarball of files, directories first, the way Flux
// builds one (relative paths, regular files 0644).
func Tarball(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	dirs := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		for d := path.Dir(name); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Cosign's simple-signing format.
const (
	CosignPayloadMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	CosignSignatureAnnot   = "dev.cosignproject.cosign/signature"
)

// SignCosign signs the manifest digest of repo the way `cosign sign
// --key` does (cosign's classic format): a simple-signing payload naming
// the digest, its ECDSA signature in the layer's annotation, pushed under
// the tag "sha256-<hex>.sig".
func (r *Registry) SignCosign(t testing.TB, repo, digest string, key *ecdsa.PrivateKey) {
	t.Helper()
	payload, err := json.Marshal(map[string]any{
		"critical": map[string]any{
			"identity": map[string]string{"docker-reference": r.Host + "/" + repo},
			"image":    map[string]string{"docker-manifest-digest": digest},
			"type":     "cosign container image signature",
		},
		"optional": nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(payload)
	sig, err := key.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rp := r.Repository(t, repo)
	cfg := []byte(`{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}`)
	cfgDesc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageConfig, cfg)
	layerDesc := content.NewDescriptorFromBytes(CosignPayloadMediaType, payload)
	layerDesc.Annotations = map[string]string{CosignSignatureAnnot: base64.StdEncoding.EncodeToString(sig)}
	for _, b := range []struct {
		d ocispec.Descriptor
		b []byte
	}{{cfgDesc, cfg}, {layerDesc, payload}} {
		if err := rp.Push(ctx, b.d, bytes.NewReader(b.b)); err != nil && !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("push signature blob: %v", err)
		}
	}
	desc, err := oras.PackManifest(ctx, rp, oras.PackManifestVersion1_0, "", oras.PackManifestOptions{
		ConfigDescriptor: &cfgDesc, Layers: []ocispec.Descriptor{layerDesc},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := rp.Tag(ctx, desc, strings.Replace(digest, ":", "-", 1)+".sig"); err != nil {
		t.Fatal(err)
	}
}
