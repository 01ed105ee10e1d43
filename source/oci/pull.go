package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/carina-gitops/carina/source"
)

// maxManifestBytes bounds a manifest.
const maxManifestBytes = 4 << 20

// pull downloads the artifact res names and writes its tree.
func (f *Fetcher) pull(ctx context.Context, rp *remote.Repository, ref Ref, res Resolved, key string) (*meta, string, error) {
	man, err := fetchManifest(ctx, rp, res.Digest)
	if err != nil {
		return nil, "", err
	}
	layer, err := pickLayer(man)
	if err != nil {
		return nil, "", err
	}
	if ref.Verify != nil {
		if err := verify(ctx, rp, ref, res.Digest); err != nil {
			return nil, "", err
		}
	}
	if layer.Size > f.opts.Limits.MaxBytes {
		return nil, "", &source.LimitError{Limit: source.LimitBytes, Max: f.opts.Limits.MaxBytes}
	}
	f.pulls.Add(1)
	rc, err := rp.Fetch(ctx, layer)
	if err != nil {
		return nil, "", fmt.Errorf("layer %s: %w", layer.Digest, err)
	}
	defer rc.Close()
	parent := filepath.Join(f.opts.CacheDir, "trees", key)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, "", err
	}
	tmp, err := os.MkdirTemp(parent, ".tmp-")
	if err != nil {
		return nil, "", err
	}
	defer func() { _ = removeAll(tmp) }()
	vr := content.NewVerifyReader(rc, layer)
	stats, err := extract(ctx, vr, filepath.Join(tmp, "tree"), f.opts.Limits)
	if err != nil {
		return nil, "", fmt.Errorf("layer %s: %w", layer.Digest, err)
	}
	if _, err := io.Copy(io.Discard, vr); err != nil {
		return nil, "", fmt.Errorf("layer %s: %w", layer.Digest, err)
	}
	if err := vr.Verify(); err != nil {
		return nil, "", fmt.Errorf("layer %s: %w", layer.Digest, err)
	}
	final := f.treeDir(key, res.Digest)
	if err := os.Rename(filepath.Join(tmp, "tree"), final); err != nil {
		if _, serr := os.Stat(final); serr != nil {
			return nil, "", err
		}
	}
	if err := os.Chmod(final, 0o555); err != nil {
		return nil, "", err
	}
	m := &meta{Digest: res.Digest, Files: stats.files, Bytes: stats.bytes,
		Source: man.Annotations[ocispec.AnnotationSource], Revision: man.Annotations[ocispec.AnnotationRevision]}
	if t, err := time.Parse(time.RFC3339, man.Annotations[ocispec.AnnotationCreated]); err == nil {
		m.Created = t.UTC()
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, "", err
	}
	if err := os.WriteFile(final+".json", b, 0o444); err != nil && !os.IsExist(err) {
		return nil, "", err
	}
	return m, final, nil
}

// fetchManifest reads and checks the manifest of digest.
func fetchManifest(ctx context.Context, rp *remote.Repository, digest string) (*ocispec.Manifest, error) {
	desc, rc, err := rp.FetchReference(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", digest, err)
	}
	defer rc.Close()
	if desc.Size > maxManifestBytes {
		return nil, &source.LimitError{Limit: source.LimitBytes, Max: maxManifestBytes}
	}
	b, err := content.ReadAll(rc, desc)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", digest, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", digest, err)
	}
	if m.MediaType == ocispec.MediaTypeImageIndex || desc.MediaType == ocispec.MediaTypeImageIndex {
		return nil, fmt.Errorf("%w: %s is an image index, not an artifact", source.ErrInvalidRef, digest)
	}
	return &m, nil
}

// pickLayer returns the layer holding the files: the first of the most
// preferred media type.
func pickLayer(m *ocispec.Manifest) (ocispec.Descriptor, error) {
	layers := slices.Clone(m.Layers)
	slices.SortStableFunc(layers, func(a, b ocispec.Descriptor) int { return preferred(a.MediaType) - preferred(b.MediaType) })
	if len(layers) == 0 || preferred(layers[0].MediaType) == len(layerTypes) {
		return ocispec.Descriptor{}, fmt.Errorf("%w: artifact has no tar+gzip layer (want %s)", source.ErrInvalidRef, layerTypes[0])
	}
	return layers[0], nil
}
