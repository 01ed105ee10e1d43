package source

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// spareDirs lists the copies and leftovers in the trees of s's repository.
func spareDirs(t *testing.T, s *Snapshot) []string {
	t.Helper()
	left, err := filepath.Glob(filepath.Join(filepath.Dir(s.Dir), ".tmp-*"))
	if err != nil {
		t.Fatal(err)
	}
	return left
}

// TestPreparedCopyIsPatched: a copy Prepare made of the last tree is what
// the next download patches, and the result is what git checks out.
func TestPreparedCopyIsPatched(t *testing.T) {
	repos, w, _ := seedApp(t)
	w.Write("keep/a.yaml", "a\n")
	w.Write("change.yaml", "v1\n")
	w.Commit("base")
	w.Push("main")
	f, ref, first := fetchedApp(t, repos)
	if err := f.Prepare(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	spare := spareDirs(t, first)
	if len(spare) != 1 {
		t.Fatalf("copies after Prepare = %v, want one", spare)
	}
	if diff := cmp.Diff(treeListing(t, first.Dir), treeListing(t, filepath.Join(spare[0], "tree"))); diff != "" {
		t.Fatalf("the copy differs from the tree (-tree +copy):\n%s", diff)
	}
	if err := f.Prepare(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	if again := spareDirs(t, first); !cmp.Equal(again, spare) {
		t.Fatalf("a second Prepare made another copy: %v, was %v", again, spare)
	}

	w.Write("change.yaml", "v2\n")
	w.Write("new/b.yaml", "b\n")
	head := w.Commit("change")
	w.Push("main")
	second, err := f.Fetch(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if f.sparesUsed.Load() != 1 || f.patches.Load() != 1 {
		t.Fatalf("prepared copies used = %d, trees patched = %d; want 1 and 1", f.sparesUsed.Load(), f.patches.Load())
	}
	if diff := cmp.Diff(gitCheckout(t, w.Bare, head), treeListing(t, second.Dir)); diff != "" {
		t.Errorf("tree differs from git's checkout (-want +got):\n%s", diff)
	}
	if got := readFile(t, first, "change.yaml"); got != "v1\n" {
		t.Errorf("the previous tree changed: change.yaml = %q", got)
	}
	if left := spareDirs(t, second); len(left) != 0 {
		t.Errorf("left behind %v", left)
	}

	// The next Prepare copies the new tree.
	if err := f.Prepare(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	if tc := f.spares[cacheKeyOf(ref.URL, false)]; tc == nil || tc.from.String() != head {
		t.Fatalf("spare = %+v, want a copy of %s", tc, head)
	}
}

// TestPrepareCancelledLeavesNothing: a Prepare whose context ends first
// removes its copy and leaves nothing for the next download.
func TestPrepareCancelledLeavesNothing(t *testing.T) {
	repos, _, _ := seedApp(t)
	f, ref, s := fetchedApp(t, repos)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := f.Prepare(ctx, ref); err == nil {
		t.Fatal("Prepare with an ended context succeeded")
	}
	if left := spareDirs(t, s); len(left) != 0 || len(f.spares) != 0 {
		t.Fatalf("left behind %v, spares %v", left, f.spares)
	}
}

// TestPruneKeepsPreparedCopy: leftovers of interrupted writes are removed
// after an hour, but not a copy Prepare made that is still waiting.
func TestPruneKeepsPreparedCopy(t *testing.T) {
	repos, _, _ := seedApp(t)
	f, ref, s := fetchedApp(t, repos)
	if err := f.Prepare(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	leftover, err := os.MkdirTemp(filepath.Dir(s.Dir), ".tmp-")
	if err != nil {
		t.Fatal(err)
	}
	spare := spareDirs(t, s)
	old := time.Now().Add(-2 * time.Hour)
	for _, d := range spare {
		if err := os.Chtimes(d, old, old); err != nil {
			t.Fatal(err)
		}
	}
	f.prune(filepath.Dir(s.Dir), s.Dir)
	left := spareDirs(t, s)
	if len(left) != 1 || left[0] == leftover {
		t.Fatalf("after prune: %v; want only the prepared copy (leftover %s)", left, leftover)
	}
}
