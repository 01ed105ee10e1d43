package source

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carina-gitops/carina/e2e/gitserver"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-cmp/cmp"
)

// deltaRepo commits files git stores as deltas of each other, in chains,
// plus a large file, an empty one, an executable and a symlink, and
// returns the work tree and the commit.
func deltaRepo(t *testing.T) (*gitserver.Repos, *gitserver.Work, string) {
	t.Helper()
	repos := gitserver.NewRepos(t)
	w := repos.Create(t, "deltas")
	for i := range 300 {
		w.Write(fmt.Sprintf("apps/%02d/deploy-%d.yaml", i%17, i), deltaFile(i))
	}
	w.Write("big.txt", strings.Repeat("a line of a large file that deltas well\n", 5000))
	w.Write("empty", "")
	w.Write("bin/run.sh", "#!/bin/sh\necho run\n")
	if err := os.Chmod(filepath.Join(w.Dir, "bin/run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	w.Symlink("apps/00/deploy-0.yaml", "link")
	head := w.Commit("deltas")
	w.Push("main")
	return repos, w, head
}

// deltaFile is the content of file i of deltaRepo: file i+1 is file i
// with one more line, which git stores in delta chains.
func deltaFile(i int) string {
	var b strings.Builder
	b.WriteString("kind: ConfigMap\ndata:\n")
	for k := range i {
		fmt.Fprintf(&b, "  key%03d: a value of some length, %d\n", k, k*k)
	}
	return b.String()
}

// gitPack returns the pack git makes of everything rev reaches; ofs says
// whether deltas name their base by offset (else by hash).
func gitPack(t testing.TB, bare, rev string, ofs bool) []byte {
	t.Helper()
	args := []string{"pack-objects", "--stdout", "--revs", "-q", "--no-reuse-delta"}
	if ofs {
		args = append(args, "--delta-base-offset")
	}
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env, cmd.Stdin = bare, gitserver.Env(), strings.NewReader(rev+"\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git pack-objects: %v", err)
	}
	return out
}

// gitIndex returns the index `git index-pack` makes of pack.
func gitIndex(t *testing.T, pack []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.pack"), pack, 0o644); err != nil {
		t.Fatal(err)
	}
	gitserver.Git(t, dir, "index-pack", "-o", "p.idx", "p.pack")
	b, err := os.ReadFile(filepath.Join(dir, "p.idx"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// countDeltas counts the deltas of pack and the longest chain.
func countDeltas(p *packObjects) (deltas, depth int) {
	for i := range p.objs {
		d := 0
		for j := int32(i); p.objs[j].delta; j = p.objs[j].base {
			d++
		}
		if d > 0 {
			deltas++
		}
		depth = max(depth, d)
	}
	return deltas, depth
}

// TestOwnPackIndexMatchesGit: a full pack is stored with an index of the
// cache's own making, byte for byte what `git index-pack` makes, and the
// tree written from the pack is what git checks out. A pack whose deltas
// name bases by hash is either indexed the same way or left to go-git;
// either way its tree is right.
func TestOwnPackIndexMatchesGit(t *testing.T) {
	_, w, head := deltaRepo(t)
	want := gitCheckout(t, w.Bare, head)
	for _, ofs := range []bool{true, false} {
		t.Run(fmt.Sprintf("ofs-delta=%v", ofs), func(t *testing.T) {
			pack := gitPack(t, w.Bare, head, ofs)
			c, err := openCache(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer c.close()
			if err := c.storePack(t.Context(), bytes.NewReader(pack), fetchOptions{maxBytes: 1 << 30, maxObjects: 1 << 20}); err != nil {
				t.Fatal(err)
			}
			if ofs && c.pack == nil {
				t.Fatal("an offset-delta pack was left to go-git")
			}
			if c.pack != nil {
				if deltas, depth := countDeltas(c.pack.packObjects); deltas < 200 || depth < 3 {
					t.Fatalf("pack has %d deltas, chains up to %d deep: the test needs more", deltas, depth)
				}
				sum := plumbing.Hash(pack[len(pack)-20:])
				got, err := os.ReadFile(filepath.Join(c.dir, "objects", "pack", "pack-"+sum.String()+".idx"))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, gitIndex(t, pack)) {
					t.Fatal("the cache's pack index differs from git index-pack's")
				}
			}
			commit, err := object.GetCommit(c.st, plumbing.NewHash(head))
			if err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(t.TempDir(), "tree")
			stats, err := materialize(t.Context(), c.st, commit, dst, DefaultOptions().Limits, nil, c.pack)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, treeListing(t, dst)); diff != "" {
				t.Errorf("tree differs from git's checkout (-want +got):\n%s", diff)
			}
			if stats.Files != 304 {
				t.Errorf("files = %d, want 304", stats.Files)
			}
		})
	}
}

// TestFirstFetchIndexesPackItself: Fetch stores the first pack with its
// own index and reads the tree's files from it.
func TestFirstFetchIndexesPackItself(t *testing.T) {
	repos, _, head := deltaRepo(t)
	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{})
	f := newFetcher(t, nil)
	s, err := f.Fetch(t.Context(), Ref{URL: srv.RepoURL("deltas")})
	if err != nil {
		t.Fatal(err)
	}
	if s.Commit != head || f.ownIndexes.Load() != 1 {
		t.Fatalf("commit %s, packs indexed by the cache %d; want %s and 1", s.Commit, f.ownIndexes.Load(), head)
	}
	if got := readFile(t, s, "apps/03/deploy-20.yaml"); got != deltaFile(20) {
		t.Errorf("apps/03/deploy-20.yaml = %q", got)
	}
}

// TestPackHeldBasesAreRebuilt: with no room to hold delta bases, each is
// rebuilt from its chain when the next delta needs it, and every object
// still gets the hash git gives it.
func TestPackHeldBasesAreRebuilt(t *testing.T) {
	_, w, head := deltaRepo(t)
	pack := gitPack(t, w.Bare, head, true)
	rebuilds := 0
	hashes := func(limit int64) []plumbing.Hash {
		p, err := scanPack(pack, 1<<20, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		p.heldLimit = limit
		if err := p.hashAll(t.Context()); err != nil {
			t.Fatal(err)
		}
		rebuilds = p.rebuilds
		var out []plumbing.Hash
		for _, o := range p.objs {
			out = append(out, o.hash)
		}
		return out
	}
	held := hashes(heldBaseBytes)
	if rebuilds != 0 {
		t.Fatalf("%d bases rebuilt with room to hold them", rebuilds)
	}
	if diff := cmp.Diff(held, hashes(1)); diff != "" {
		t.Errorf("hashes differ when bases are rebuilt (-held +rebuilt):\n%s", diff)
	}
	if rebuilds == 0 {
		t.Error("no base was rebuilt with no room to hold them")
	}
}

// TestPackLeftToGoGit: a pack with more objects than the cache indexes
// itself is stored by go-git, and its objects are all there.
func TestPackLeftToGoGit(t *testing.T) {
	_, w, head := deltaRepo(t)
	c, err := openCache(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if err := c.storePack(t.Context(), bytes.NewReader(gitPack(t, w.Bare, head, true)), fetchOptions{maxBytes: 1 << 30, maxObjects: 10}); err != nil {
		t.Fatal(err)
	}
	if c.pack != nil {
		t.Fatal("a pack over maxObjects was indexed by the cache")
	}
	commit, err := object.GetCommit(c.st, plumbing.NewHash(head))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := materialize(t.Context(), c.st, commit, filepath.Join(t.TempDir(), "tree"), DefaultOptions().Limits, nil, nil); err != nil {
		t.Fatal(err)
	}
}

// smallPack is a pack of two similar files, so one is a delta.
func smallPack(t testing.TB) []byte {
	t.Helper()
	repos := gitserver.NewRepos(t)
	w := repos.Create(t, "small")
	w.Write("a.yaml", strings.Repeat("name: a\nreplicas: 3\n", 40))
	w.Write("b.yaml", strings.Repeat("name: a\nreplicas: 3\n", 40)+"extra: 1\n")
	head := w.Commit("two")
	w.Push("main")
	return gitPack(t, w.Bare, head, true)
}

// resum replaces the trailer of pack with the checksum of what precedes
// it, so a test reaches the checks behind it.
func resum(pack []byte) []byte {
	out := bytes.Clone(pack)
	sum := sha1.Sum(out[:len(out)-20])
	copy(out[len(out)-20:], sum[:])
	return out
}

// TestPackErrors: a damaged pack is an error that says where, never a
// panic, and a delta that claims too large a result is a limit error.
func TestPackErrors(t *testing.T) {
	pack := smallPack(t)
	tests := []struct {
		name    string
		pack    func() []byte
		maxSize int64
		want    string
	}{
		{"checksum", func() []byte { b := bytes.Clone(pack); b[20] ^= 1; return b }, 1 << 20, "pack checksum mismatch"},
		{"count too high", func() []byte {
			b := bytes.Clone(pack)
			binary.BigEndian.PutUint32(b[8:12], binary.BigEndian.Uint32(b[8:12])+1)
			return resum(b)
		}, 1 << 20, "truncated object header"},
		{"bytes after the objects", func() []byte {
			b := append(bytes.Clone(pack[:len(pack)-20]), 0, 0, 0)
			return resum(append(b, make([]byte, 20)...))
		}, 1 << 20, "3 bytes after the last object"},
		{"size off by one", func() []byte {
			b := bytes.Clone(pack)
			if b[12]&15 == 0 {
				b[12]++
			} else {
				b[12]--
			}
			return resum(b)
		}, 1 << 20, "pack offset 12: object data is"},
		{"reserved type", func() []byte { b := bytes.Clone(pack); b[12] = b[12]&0x8f | 5<<4; return resum(b) }, 1 << 20, "pack offset 12: object type 5 is not valid"},
		{"object over the limit", func() []byte { return pack }, 100, "size limit of 100 B"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := scanPack(tt.pack(), 1<<10, tt.maxSize)
			if err == nil {
				err = p.hashAll(t.Context())
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, errPackUnsupported) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// FuzzScanPack: reading and resolving any bytes as a pack never panics
// and never holds more than its limits allow.
func FuzzScanPack(f *testing.F) {
	f.Add(smallPack(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) >= 32 {
			data = resum(data)
		}
		p, err := scanPack(data, 1<<12, 1<<20)
		if err != nil {
			return
		}
		p.heldLimit = 64
		_ = p.hashAll(t.Context())
	})
}
