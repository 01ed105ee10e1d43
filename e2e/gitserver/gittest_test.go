package gitserver

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func seed(t *testing.T) (*Repos, string) {
	repos := NewRepos(t)
	w := repos.Create(t, "app")
	w.Write("README.md", "hello\n")
	sha := w.Commit("first")
	w.Push("main")
	return repos, sha
}

func TestHTTPServesCloneWithBasicAuth(t *testing.T) {
	repos, sha := seed(t)
	srv := StartHTTP(t, repos, HTTPOptions{Username: "alice", Password: "s3cret"})
	url := strings.Replace(srv.RepoURL("app"), "http://", "http://alice:s3cret@", 1)
	dst := filepath.Join(t.TempDir(), "clone")
	Git(t, t.TempDir(), "clone", "-q", "--depth", "1", url, dst)
	if got := Git(t, dst, "rev-parse", "HEAD"); got != sha {
		t.Errorf("cloned HEAD = %s, want %s", got, sha)
	}
	if st := srv.Stats(); st.InfoRefs == 0 || st.UploadPack == 0 {
		t.Errorf("stats = %+v, want info/refs and upload-pack requests counted", st)
	}
	bad := strings.Replace(srv.RepoURL("app"), "http://", "http://alice:wrong@", 1)
	if _, err := RunGit(t.TempDir(), nil, nil, "ls-remote", bad); err == nil {
		t.Error("ls-remote with a wrong password succeeded")
	}
	if srv.Stats().Unauthorized == 0 {
		t.Error("wrong password was not counted as unauthorized")
	}
}

func TestHTTPSServesWithCA(t *testing.T) {
	repos, sha := seed(t)
	srv := StartHTTP(t, repos, HTTPOptions{TLS: true})
	out, err := RunGit(t.TempDir(), []string{"GIT_SSL_CAINFO=" + srv.CAFile()}, nil, "ls-remote", srv.RepoURL("app"), "main")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, sha) {
		t.Errorf("ls-remote = %q, want it to start with %s", out, sha)
	}
}

func TestSSHServesCloneWithKey(t *testing.T) {
	repos, sha := seed(t)
	srv := StartSSH(t, repos)
	dst := filepath.Join(t.TempDir(), "clone")
	env := []string{"GIT_SSH_COMMAND=" + srv.GitSSHCommand()}
	if _, err := RunGit(t.TempDir(), env, nil, "clone", "-q", srv.RepoURL("app"), dst); err != nil {
		t.Fatal(err)
	}
	if got := Git(t, dst, "rev-parse", "HEAD"); got != sha {
		t.Errorf("cloned HEAD = %s, want %s", got, sha)
	}
	// git-shell refuses anything but git commands.
	out, err := runSSH(srv, "id")
	if err == nil {
		t.Errorf("git-shell ran an arbitrary command: %s", out)
	}
}

func runSSH(srv *SSHServer, command string) (string, error) {
	args := strings.Fields(srv.GitSSHCommand())
	args = append(args, "-p", strings.TrimPrefix(srv.Addr[strings.LastIndex(srv.Addr, ":"):], ":"), srv.User+"@"+srv.Host, command)
	out, err := runCmd(args[0], args[1:]...)
	return out, err
}

func TestFastImportBuildsHistory(t *testing.T) {
	repos := NewRepos(t)
	repos.Create(t, "big")
	stream := "commit refs/heads/main\n" +
		"committer A <a@b> 1700000000 +0000\n" +
		"data 3\none\n" +
		"M 100644 inline f.txt\n" +
		"data 2\nx\n\n"
	if err := FastImport(repos.Bare("big"), strings.NewReader(stream)); err != nil {
		t.Fatal(err)
	}
	if got := Git(t, repos.Bare("big"), "rev-list", "--count", "main"); got != "1" {
		t.Errorf("commit count = %s, want 1", got)
	}
	if _, err := os.Stat(repos.Bare("big")); err != nil {
		t.Fatal(err)
	}
}

func runCmd(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
