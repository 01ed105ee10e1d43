package oci

import (
	"context"
	"fmt"
	"slices"

	"github.com/Masterminds/semver/v3"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/carina-gitops/carina/source"
)

// resolve turns ref into a manifest digest.
func (f *Fetcher) resolve(ctx context.Context, rp *remote.Repository, ref Ref) (Resolved, error) {
	f.resolves.Add(1)
	if ref.Digest != "" {
		return Resolved{Digest: ref.Digest}, nil
	}
	tag, version := ref.tag(), ""
	if ref.SemVer != "" {
		var err error
		if tag, version, err = f.latest(ctx, rp, ref.SemVer); err != nil {
			return Resolved{}, err
		}
	}
	desc, err := rp.Resolve(ctx, tag)
	if err != nil {
		return Resolved{}, fmt.Errorf("resolve tag %s: %w", tag, err)
	}
	return Resolved{Digest: desc.Digest.String(), Tag: tag, Version: version}, nil
}

// latest returns the highest tag in the range, and its version.
func (f *Fetcher) latest(ctx context.Context, rp *remote.Repository, rng string) (string, string, error) {
	c, err := semver.NewConstraint(rng)
	if err != nil {
		return "", "", fmt.Errorf("%w: semver range %q: %v", source.ErrInvalidRef, rng, err)
	}
	var best *semver.Version
	var bestTag string
	n := 0
	err = rp.Tags(ctx, "", func(tags []string) error {
		if n += len(tags); n > f.opts.MaxTags {
			return &source.LimitError{Limit: "tags", Max: int64(f.opts.MaxTags)}
		}
		for _, t := range tags {
			v, err := semver.NewVersion(t)
			if err != nil || !c.Check(v) {
				continue
			}
			if best == nil || v.GreaterThan(best) || v.Equal(best) && t < bestTag {
				best, bestTag = v, t
			}
		}
		return nil
	})
	if err != nil {
		return "", "", fmt.Errorf("list tags: %w", err)
	}
	if best == nil {
		return "", "", fmt.Errorf("no tag matches semver range %q: %w", rng, source.ErrNotFound)
	}
	return bestTag, best.String(), nil
}

// layerTypes are the layer media types holding a gzip tarball of files,
// in order of preference.
var layerTypes = []string{
	"application/vnd.cncf.flux.content.v1.tar+gzip",
	"application/vnd.oci.image.layer.v1.tar+gzip",
	"application/vnd.docker.image.rootfs.diff.tar.gzip",
}

func preferred(mediaType string) int {
	if i := slices.Index(layerTypes, mediaType); i >= 0 {
		return i
	}
	return len(layerTypes)
}
