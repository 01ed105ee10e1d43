package source

import (
	"fmt"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
)

// target is a Ref resolved against what the remote advertised.
type target struct {
	// name is the full ref name; for a commit Ref it is the commit id.
	name string
	// want is the object to ask the server for: a commit, or the tag
	// object of an annotated tag.
	want plumbing.Hash
	// commit is the commit id the advertisement implies. It is a hint for
	// the fast path only: the fetched object is always peeled again.
	commit plumbing.Hash
	// version is the tag's version for a semver Ref.
	version string
}

// resolve picks the commit a Ref means from the advertised refs.
func resolve(r Ref, a *advertised) (target, error) {
	switch r.Kind() {
	case KindHead:
		return resolveHead(a)
	case KindBranch:
		return resolveName(a, "refs/heads/"+r.Branch, "branch "+r.Branch)
	case KindTag:
		return resolveName(a, "refs/tags/"+r.Tag, "tag "+r.Tag)
	case KindName:
		return resolveName(a, r.Name, "ref "+r.Name)
	case KindSemVer:
		return resolveSemVer(a, r.SemVer, r.TagPrefix)
	case KindCommit:
		return resolveCommit(a, plumbing.NewHash(r.Commit))
	}
	return target{}, fmt.Errorf("%w: unknown ref kind", ErrInvalidRef)
}

func resolveHead(a *advertised) (target, error) {
	if a.head != "" {
		if h, ok := a.refs[a.head]; ok {
			return target{name: a.head, want: h, commit: h}, nil
		}
	}
	if !a.headHash.IsZero() {
		return target{name: "HEAD", want: a.headHash, commit: a.headHash}, nil
	}
	return target{}, fmt.Errorf("default branch (HEAD) %w on the remote", ErrNotFound)
}

func resolveName(a *advertised, name, what string) (target, error) {
	h, ok := a.refs[name]
	if !ok {
		return target{}, fmt.Errorf("%s %w on the remote", what, ErrNotFound)
	}
	t := target{name: name, want: h, commit: h}
	if p, ok := a.peeled[name]; ok {
		// An annotated tag: ask for the tag object, which the server
		// advertised, and remember the commit it points to.
		t.commit = p
	}
	return t, nil
}

func resolveSemVer(a *advertised, rng, prefix string) (target, error) {
	c, err := semver.NewConstraint(rng)
	if err != nil {
		return target{}, fmt.Errorf("%w: semver range %q: %v", ErrInvalidRef, rng, err)
	}
	base := "refs/tags/" + prefix
	var names []string
	for name := range a.refs {
		if strings.HasPrefix(name, base) {
			names = append(names, name)
		}
	}
	sort.Strings(names) // ties between "v1.0.0" and "1.0.0" go to the first name
	var best *semver.Version
	var bestName string
	for _, name := range names {
		v, err := semver.NewVersion(strings.TrimPrefix(name, base))
		if err != nil || !c.Check(v) {
			continue
		}
		if best == nil || v.GreaterThan(best) {
			best, bestName = v, name
		}
	}
	if best == nil {
		return target{}, fmt.Errorf("no tag matching semver %q (prefix %q) %w on the remote", rng, prefix, ErrNotFound)
	}
	t, err := resolveName(a, bestName, "tag "+strings.TrimPrefix(bestName, "refs/tags/"))
	t.version = best.Original()
	return t, err
}

func resolveCommit(a *advertised, h plumbing.Hash) (target, error) {
	t := target{name: h.String(), want: h, commit: h}
	for name, v := range a.refs {
		if v == h {
			return t, nil
		}
		if p, ok := a.peeled[name]; ok && p == h {
			// Ask for the advertised tag object; the commit comes with it.
			t.want = v
			return t, nil
		}
	}
	if a.caps == nil || a.supports(capability.AllowReachableSHA1InWant) {
		return t, nil
	}
	return target{}, fmt.Errorf("commit %s is not the tip of a ref and the server does not allow fetching other commits by id (allow-reachable-sha1-in-want): %w; pin a tag instead",
		h, ErrNotFound)
}
