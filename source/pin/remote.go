package pin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/revlist"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/carina-gitops/carina/source"
)

// The talk with the remote goes through sessions of the transport that
// source.GoGitAuth returns, which connects only where the egress policy
// allows: go-git's Repository.Clone, Fetch and Push would take their
// transport from a process-wide table that the policy does not reach.

// clone fetches the branch name and every tag into a new in-memory
// repository, and returns it with the branch head.
func (r *Repo) clone(ctx context.Context, name plumbing.ReferenceName) (*git.Repository, *object.Commit, error) {
	sess, err := r.auth.Transport.NewUploadPackSession(r.auth.Endpoint, r.auth.Method)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = sess.Close() }()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return nil, nil, err
	}
	head, ok := ar.References[name.String()]
	if !ok {
		return nil, nil, fmt.Errorf("the remote has no branch %s", strings.TrimPrefix(name.String(), "refs/heads/"))
	}
	refs := []*plumbing.Reference{plumbing.NewHashReference(name, head)}
	wants := []plumbing.Hash{head}
	for ref, h := range ar.References {
		if strings.HasPrefix(ref, "refs/tags/") && plumbing.ReferenceName(ref).Validate() == nil {
			refs = append(refs, plumbing.NewHashReference(plumbing.ReferenceName(ref), h))
			wants = append(wants, h)
		}
	}
	st := memory.NewStorage()
	if err := upload(ctx, sess, ar, st, wants, nil); err != nil {
		return nil, nil, err
	}
	refs = append(refs, plumbing.NewSymbolicReference(plumbing.HEAD, name))
	for _, ref := range refs {
		if err := st.SetReference(ref); err != nil {
			return nil, nil, err
		}
	}
	repo, err := git.Open(st, nil)
	if err != nil {
		return nil, nil, err
	}
	base, err := repo.CommitObject(head)
	if err != nil {
		return nil, nil, fmt.Errorf("branch %s: %w", strings.TrimPrefix(name.String(), "refs/heads/"), err)
	}
	return repo, base, nil
}

// remoteBranch fetches branch from the remote, if it exists.
func (r *Repo) remoteBranch(ctx context.Context, branch string) (*object.Commit, bool) {
	sess, err := r.auth.Transport.NewUploadPackSession(r.auth.Endpoint, r.auth.Method)
	if err != nil {
		return nil, false
	}
	defer func() { _ = sess.Close() }()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return nil, false
	}
	h, ok := ar.References[plumbing.NewBranchReferenceName(branch).String()]
	if !ok {
		return nil, false
	}
	if r.repo.Storer.HasEncodedObject(h) != nil {
		if err := upload(ctx, sess, ar, r.repo.Storer, []plumbing.Hash{h}, []plumbing.Hash{r.base.Hash}); err != nil {
			return nil, false
		}
	}
	c, err := r.repo.CommitObject(h)
	return c, err == nil
}

// upload asks the remote for wants, telling it of haves, and stores the
// pack it sends.
func upload(ctx context.Context, sess transport.UploadPackSession, ar *packp.AdvRefs, st storage.Storer, wants, haves []plumbing.Hash) error {
	req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
	if ar.Capabilities.Supports(capability.NoProgress) {
		_ = req.Capabilities.Set(capability.NoProgress)
	}
	seen := map[plumbing.Hash]bool{}
	for _, h := range wants {
		if !seen[h] {
			seen[h] = true
			req.Wants = append(req.Wants, h)
		}
	}
	req.Haves = haves
	resp, err := sess.UploadPack(ctx, req)
	if errors.Is(err, transport.ErrEmptyUploadPackRequest) {
		return nil
	}
	if err != nil {
		return err
	}
	defer func() { _ = resp.Close() }()
	if err := packfile.UpdateObjectStorage(st, source.PackStream(req, resp)); err != nil && !errors.Is(err, packfile.ErrEmptyPackfile) {
		return fmt.Errorf("storing the pack: %w", err)
	}
	return nil
}

// push sets ref on the remote to commit, whatever it held (a forced
// update), sending the objects the remote lacks.
func (r *Repo) push(ctx context.Context, ref plumbing.ReferenceName, commit plumbing.Hash) error {
	sess, err := r.auth.Transport.NewReceivePackSession(r.auth.Endpoint, r.auth.Method)
	if err != nil {
		return err
	}
	defer func() { _ = sess.Close() }()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return err
	}
	old := ar.References[ref.String()]
	if old == commit {
		return nil
	}
	st := r.repo.Storer
	haves := []plumbing.Hash{r.base.Hash}
	if !old.IsZero() && st.HasEncodedObject(old) == nil {
		haves = append(haves, old)
	}
	objects, err := revlist.Objects(st, []plumbing.Hash{commit}, haves)
	if err != nil {
		return err
	}
	var pack bytes.Buffer
	if _, err := packfile.NewEncoder(&pack, st, !ar.Capabilities.Supports(capability.OFSDelta)).Encode(objects, 10); err != nil {
		return err
	}
	req := packp.NewReferenceUpdateRequestFromCapabilities(ar.Capabilities)
	req.Commands = []*packp.Command{{Name: ref, Old: old, New: commit}}
	req.Packfile = io.NopCloser(&pack)
	rs, err := sess.ReceivePack(ctx, req)
	if err != nil {
		return err
	}
	if rs != nil {
		return rs.Error()
	}
	return nil
}
