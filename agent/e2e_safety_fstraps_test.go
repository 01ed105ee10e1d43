package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFilesystemTrapsCostOnlyTheirApp: a commit turns one app's Appfile
// into a symbolic link to /dev/zero (a read that never ends, were it
// followed) and changes another app. The trap is refused within a second
// of the webhook, that app keeps its last good state and shows the error,
// and the other app's change is applied. (A FIFO cannot be committed to
// Git; source.TestSnapshotFIFOInsideTreeIsRefused covers it.)
func TestFilesystemTrapsCostOnlyTheirApp(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("traps")
	trap, good := ns+"-trap", ns+"-good"
	createNamespaces(t, cs, ns)
	repo := newGitRepo(t)
	repo.commit("two apps", map[string]string{
		trap + "/Appfile": simpleAppfile(trap, ns, "v1"),
		good + "/Appfile": simpleAppfile(good, ns, "v1"),
	})
	r := startAgent(t, agentConfig(t, repo.url(), "", ""))
	eventually(t, 30*time.Second, "trap healthy", healthyEnv(r, trap, "default"))
	eventually(t, 30*time.Second, "good healthy", healthyEnv(r, good, "default"))

	appfile := filepath.Join(repo.dir, trap, "Appfile")
	if err := os.Remove(appfile); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", appfile); err != nil {
		t.Fatal(err)
	}
	repo.commit("a trap, and a change", map[string]string{good + "/Appfile": simpleAppfile(good, ns, "v2")})
	start := time.Now()
	r.hook(t)
	eventually(t, 10*time.Second, "the trap refused", func() (bool, string) {
		st, err := r.client.App(t.Context(), trap)
		if err != nil || st.Error == nil {
			return false, fmt.Sprintf("%v %+v", err, st.Error)
		}
		return strings.Contains(st.Error.Message+st.Error.Position, "Appfile"), fmt.Sprintf("%+v", st.Error)
	})
	if d := time.Since(start); d > time.Second {
		t.Errorf("the trap was refused after %s, want under 1 s", d)
	}
	if got := configMapData(t, cs, ns, trap); got != "v1" {
		t.Errorf("trap's ConfigMap = %q, want the last good v1", got)
	}
	eventually(t, 20*time.Second, "good's change applied", func() (bool, string) {
		got := configMapData(t, cs, ns, good)
		return got == "v2", got
	})
}
