package pin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/carina-gitops/carina/internal/egress"
	"github.com/carina-gitops/carina/source"
)

// Repo is an in-memory clone of one branch of the app repository (with
// its tags), to read pins and history and to push a pin change. Nothing
// touches the disk and nothing runs git.
type Repo struct {
	repo   *git.Repository
	url    string
	auth   source.GitAuth
	branch string
	base   *object.Commit
}

// Clone fetches branch (and the tags) of rawURL with auth's credentials,
// connecting only where policy (nil: egress.Default()) allows. ctx bounds
// the transfer; errors never hold credentials.
func Clone(ctx context.Context, rawURL string, auth source.Auth, branch string, policy *egress.Policy) (*Repo, error) {
	ga, err := auth.GoGitAuth(ctx, rawURL, policy)
	if err != nil {
		return nil, err
	}
	name := plumbing.NewBranchReferenceName(branch)
	if err := name.Validate(); err != nil || branch == "" {
		return nil, fmt.Errorf("branch %q is not a valid branch name", clip(branch, 80))
	}
	r := &Repo{url: rawURL, auth: ga, branch: branch}
	if r.repo, r.base, err = r.clone(ctx, name); err != nil {
		return nil, fmt.Errorf("%s clone of %s: %w", source.Redact(rawURL), branch, ga.Scrub(err))
	}
	return r, nil
}

// Head is the commit id of the cloned branch.
func (r *Repo) Head() string { return r.base.Hash.String() }

// ReadPin reads the pin at file on the branch head; ErrNotPinned when
// there is none.
func (r *Repo) ReadPin(file string) (Pin, error) {
	tree, err := r.base.Tree()
	if err != nil {
		return Pin{}, err
	}
	f, err := tree.File(file)
	if errors.Is(err, object.ErrFileNotFound) {
		return Pin{}, fmt.Errorf("%s: %w", file, ErrNotPinned)
	}
	if err != nil {
		return Pin{}, fmt.Errorf("%s: %w", file, err)
	}
	if f.Size > MaxFileBytes {
		return Pin{}, fmt.Errorf("%s: pin file is larger than %d bytes", file, MaxFileBytes)
	}
	content, err := f.Contents()
	if err != nil {
		return Pin{}, fmt.Errorf("%s: %w", file, err)
	}
	return Parse(file, []byte(content))
}

// Resolve turns a revision (a full commit id, or a tag) into a commit id
// known to the clone.
func (r *Repo) Resolve(rev string) (string, error) {
	if err := Validate(rev); err != nil {
		return "", err
	}
	if IsCommit(rev) {
		if _, err := r.repo.CommitObject(plumbing.NewHash(rev)); err != nil {
			return "", fmt.Errorf("revision %s is not on branch %s: %w", rev, r.branch, err)
		}
		return rev, nil
	}
	h, err := r.repo.ResolveRevision(plumbing.Revision("refs/tags/" + rev))
	if err != nil {
		return "", fmt.Errorf("revision %s: no such tag: %w", rev, err)
	}
	c, err := r.repo.CommitObject(*h)
	if err != nil {
		return "", fmt.Errorf("revision %s: %w", rev, err)
	}
	return c.Hash.String(), nil
}

// Commit is one commit of the history between two revisions.
type Commit struct {
	ID      string    `json:"id"`
	Subject string    `json:"subject"`
	Author  string    `json:"author"`
	Time    time.Time `json:"time"`
}

// maxAncestors bounds the history walked to find what from already has.
const maxAncestors = 100000

// Commits lists the commits reachable from to and not from from, newest
// first, at most max; truncated says there were more. from "" lists the
// history of to.
func (r *Repo) Commits(ctx context.Context, from, to string, max int) (out []Commit, truncated bool, err error) {
	seen := map[plumbing.Hash]bool{}
	if from != "" {
		fc, err := r.repo.CommitObject(plumbing.NewHash(from))
		if err != nil {
			return nil, false, fmt.Errorf("revision %s: %w", from, err)
		}
		err = object.NewCommitPreorderIter(fc, nil, nil).ForEach(func(c *object.Commit) error {
			if len(seen) >= maxAncestors || ctx.Err() != nil {
				return errStop
			}
			seen[c.Hash] = true
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return nil, false, err
		}
	}
	tc, err := r.repo.CommitObject(plumbing.NewHash(to))
	if err != nil {
		return nil, false, fmt.Errorf("revision %s: %w", to, err)
	}
	err = object.NewCommitPreorderIter(tc, seen, nil).ForEach(func(c *object.Commit) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if len(out) == max {
			truncated = true
			return errStop
		}
		out = append(out, Commit{ID: c.Hash.String(), Subject: subject(c.Message), Author: c.Author.Name, Time: c.Author.When})
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, false, err
	}
	return out, truncated, nil
}

var errStop = errors.New("stop")

func subject(msg string) string {
	for i, c := range msg {
		if c == '\n' {
			return clip(msg[:i], 200)
		}
	}
	return clip(msg, 200)
}

// Signature names the author of a pin commit.
type Signature struct{ Name, Email string }

// DefaultSignature is the author when none is given.
var DefaultSignature = Signature{Name: "Carina", Email: "carina@localhost"}

// Result is what Push did.
type Result struct {
	// Commit is the pin commit the branch points at.
	Commit string
	// Pushed is false when the branch already held the same change on the
	// same base, so nothing was pushed.
	Pushed bool
}

// PushChange writes content to file as one commit on top of the cloned
// branch head and pushes it to branch (created, or moved when it holds an
// older change). It returns ErrNoChange when the head already has it.
func (r *Repo) PushChange(ctx context.Context, branch, file string, content []byte, msg string, sig Signature) (Result, error) {
	if err := plumbing.NewBranchReferenceName(branch).Validate(); err != nil || branch == "" || branch == r.branch {
		return Result{}, fmt.Errorf("branch %q is not a valid new branch name", clip(branch, 80))
	}
	st := r.repo.Storer
	blob, err := storeBlob(st, content)
	if err != nil {
		return Result{}, err
	}
	baseTree, err := r.base.Tree()
	if err != nil {
		return Result{}, err
	}
	tree, err := replaceFile(st, baseTree, splitPath(file), blob)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", file, err)
	}
	if tree == baseTree.Hash {
		return Result{}, ErrNoChange
	}
	if existing, ok := r.remoteBranch(ctx, branch); ok && existing.TreeHash == tree &&
		len(existing.ParentHashes) == 1 && existing.ParentHashes[0] == r.base.Hash {
		return Result{Commit: existing.Hash.String()}, nil
	}
	if sig == (Signature{}) {
		sig = DefaultSignature
	}
	commit, err := storeCommit(st, tree, r.base.Hash, msg, sig)
	if err != nil {
		return Result{}, err
	}
	ref := plumbing.NewBranchReferenceName(branch)
	if err := st.SetReference(plumbing.NewHashReference(ref, commit)); err != nil {
		return Result{}, err
	}
	if err := r.push(ctx, ref, commit); err != nil {
		return Result{}, fmt.Errorf("%s push of %s: %w", source.Redact(r.url), branch, r.auth.Scrub(err))
	}
	return Result{Commit: commit.String(), Pushed: true}, nil
}

// ErrNoChange says the branch head already holds the pin.
var ErrNoChange = errors.New("the pin already has this revision")
