// Package gitea runs a real Gitea forge on loopback for tests and demos:
// Git over HTTP, pull requests, comments, commit statuses and signed
// webhooks, with an sqlite database in a temporary directory.
//
// The binary is built once per version from the Go module proxy through
// the small module in e2e/gitea/builder (Gitea's own replace directives,
// tags "sqlite sqlite_unlock_notify", no bindata: templates and options are
// read from the module source, STATIC_ROOT_PATH) and cached outside the
// repository in <cache>/gitea/<version>-<platform>-<digest>/ (see
// EnsureBinary). The server runs in its own process group with a
// parent-death signal, and a watchdog removes it and its directory when the
// owning process dies, however it dies.
//
// Typical use in a test package:
//
//	func TestMain(m *testing.M) {
//		srv, err := gitea.Start(context.Background(), gitea.DefaultOptions())
//		...
//		code := m.Run()
//		srv.Stop()
//		os.Exit(code)
//	}
//
// and in a test, with the helpers of this package:
//
//	repo := srv.CreateRepo(t, "shop")
//	sha := srv.CommitFiles(t, repo, "main", "feature", map[string]string{"app.yaml": "..."}, "change")
//	pr := srv.OpenPR(t, repo, "feature", "main", "title", "body")
package gitea
