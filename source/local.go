package source

import (
	"context"
	"fmt"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// fetchLocal reads a repository on the local disk (file:// or a path,
// allowed only with Options.AllowFile). It reads the objects in place:
// there is no cache and nothing is downloaded.
func (f *Fetcher) fetchLocal(ctx context.Context, ref Ref, u repoURL) (*Snapshot, error) {
	repo, err := git.PlainOpen(u.Path)
	if err != nil {
		return nil, fmt.Errorf("local repository %s: %w", u.Path, err)
	}
	adv, err := localRefs(repo.Storer)
	if err != nil {
		return nil, fmt.Errorf("local repository %s: %w", u.Path, err)
	}
	t, err := resolve(ref, adv)
	if err != nil {
		return nil, err
	}
	h, err := peelCommit(repo.Storer, t.want)
	if err != nil {
		return nil, fmt.Errorf("local repository %s: %w", u.Path, err)
	}
	key := cacheKey(u)
	if dir, m := f.known(key, h.String()); m != nil {
		return newSnapshot(ref, u, t, dir, m), nil
	}
	unlock, err := f.lock(ctx, key)
	if err != nil {
		return nil, err
	}
	defer unlock()
	commit, err := object.GetCommit(repo.Storer, h)
	if err != nil {
		return nil, fmt.Errorf("local repository %s: commit %s: %w", u.Path, h, err)
	}
	dir, m, err := f.writeTree(ctx, key, repo.Storer, commit, nil, nil)
	if err != nil {
		return nil, err
	}
	return newSnapshot(ref, u, t, dir, m), nil
}

// localRefs lists the refs of a local repository the way a server would
// advertise them, with annotated tags peeled.
func localRefs(st storer.Storer) (*advertised, error) {
	a := &advertised{refs: map[string]plumbing.Hash{}, peeled: map[string]plumbing.Hash{}}
	iter, err := st.IterReferences()
	if err != nil {
		return nil, err
	}
	defer iter.Close()
	err = iter.ForEach(func(r *plumbing.Reference) error {
		name := r.Name().String()
		switch {
		case r.Type() == plumbing.SymbolicReference:
			if name == "HEAD" {
				a.head = r.Target().String()
			}
		case name == "HEAD":
			a.headHash = r.Hash()
		default:
			a.refs[name] = r.Hash()
			if obj, err := st.EncodedObject(plumbing.TagObject, r.Hash()); err == nil {
				if target, err := tagTarget(obj); err == nil {
					a.peeled[name] = target
				}
			}
		}
		return nil
	})
	return a, err
}
