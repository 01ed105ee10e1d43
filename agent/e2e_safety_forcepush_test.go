package agent

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestForcePushIsAppliedAndReported: the branch an app follows is
// rewritten by a force-push to a history unrelated to the applied one.
// The agent applies the new head, and says so: a log line and a Warning
// Event in the app's namespace read "history rewritten" with the old and
// the new commit.
func TestForcePushIsAppliedAndReported(t *testing.T) {
	_, cs := needCluster(t)
	ns := testNS("forcepush")
	app := ns + "-shop"
	createNamespaces(t, cs, ns)
	repo := newGitRepo(t)
	old := repo.commit("v1", map[string]string{app + "/Appfile": simpleAppfile(app, ns, "v1")})
	r, logs := startAgentWith(t, agentConfig(t, repo.url(), "", ""), nil)
	eventually(t, 60*time.Second, "v1 applied", func() (bool, string) {
		got := configMapData(t, cs, ns, app)
		return got == "v1", got
	})

	// A history that shares no commit with the applied one replaces main.
	repo.git("checkout", "-q", "--orphan", "rewritten")
	repo.git("rm", "-rq", "--cached", ".")
	head := repo.commit("rewritten from scratch", map[string]string{app + "/Appfile": simpleAppfile(app, ns, "rewritten")})
	repo.git("branch", "-M", "rewritten", "main")
	mb := exec.Command("git", "merge-base", head, old)
	mb.Dir = repo.dir
	if out, err := mb.Output(); err == nil {
		t.Fatalf("the new history shares %s with the old one: not a rewrite", out)
	}
	r.hook(t)
	eventually(t, 30*time.Second, "the new head applied", func() (bool, string) {
		got := configMapData(t, cs, ns, app)
		return got == "rewritten", got
	})
	eventually(t, 10*time.Second, "status at the new head", func() (bool, string) {
		e, err := r.env(app, "default")
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(e.Revision, head), e.Revision
	})

	eventually(t, 10*time.Second, "a log line says history rewritten with both commits", func() (bool, string) {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "history rewritten") && strings.Contains(l, old) && strings.Contains(l, head) {
				return true, l
			}
		}
		return false, grep(logs.String(), "rewritten")
	})
	eventually(t, 10*time.Second, "an Event says history rewritten with both commits", func() (bool, string) {
		evs, err := cs.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, ev := range evs.Items {
			seen = append(seen, fmt.Sprintf("%s %s: %s", ev.Type, ev.Reason, ev.Message))
			if ev.Type == corev1.EventTypeWarning && strings.Contains(ev.Message, "history rewritten") &&
				strings.Contains(ev.Message, old) && strings.Contains(ev.Message, head) && ev.InvolvedObject.Name == app {
				return true, ""
			}
		}
		return false, strings.Join(seen, "; ")
	})
}
