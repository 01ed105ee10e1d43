// Package gitserver runs real Git servers on loopback for tests: a directory
// of bare repositories served by `git http-backend` behind net/http/cgi (with
// optional basic auth and TLS), and the same directory over SSH by a real
// OpenSSH sshd with git-shell and a generated key. It also builds histories
// with the real `git` command (commits, branches, tags, force-pushes, and
// large repositories through `git fast-import`).
//
// Everything here shells out to git or sshd; it is for tests and benchmarks
// only and must never be imported by product code.
//
// Typical use:
//
//	repos := gitserver.NewRepos(t)
//	w := repos.Create(t, "app")
//	w.Write("deploy/app.yaml", "kind: Application\n")
//	sha := w.Commit("first")
//	w.Push("main")
//	srv := gitserver.StartHTTP(t, repos, gitserver.HTTPOptions{Username: "u", Password: "p"})
//	url := srv.RepoURL("app")
//
// Tests that need the binaries call RequireGit or RequireSSHD, which skip
// with a message naming the missing Debian package (git, openssh-server).
package gitserver
