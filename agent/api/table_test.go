package api

import (
	"bytes"
	"strings"
	"testing"
)

// TestWriteAppsShowsTheErrorOfAStalledEnv: the status table's MESSAGE
// shows the first line of a Stalled env's last error, shortened (bug:
// it was empty; only `carina status APP` showed it).
func TestWriteAppsShowsTheErrorOfAStalledEnv(t *testing.T) {
	long := "render of shop in prod at main@sha1:abc: shop/Appfile:12:3: field \"replicas\" must be a number " + strings.Repeat("x", 200) + "\nsecond line"
	apps := []AppSummary{{Name: "shop", Source: "apps", Envs: []EnvSummary{
		{Name: "staging", Sync: SyncSynced, Health: HealthHealthy},
		{Name: "prod", Sync: SyncStalled, Health: HealthHealthy, Error: long},
	}}}
	var buf bytes.Buffer
	if err := WriteApps(&buf, apps); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("table has %d lines:\n%s", len(lines), buf.String())
	}
	prod := lines[2]
	if !strings.Contains(prod, `shop/Appfile:12:3: field "replicas" must be a number`) {
		t.Errorf("the prod line does not show the error: %q", prod)
	}
	if strings.Contains(prod, "second line") || len(prod) > 300 {
		t.Errorf("the error is not shortened to its first line: %q", prod)
	}
	if strings.Contains(lines[1], "replicas") {
		t.Errorf("staging shows prod's error: %q", lines[1])
	}
}

// TestWritesShowWarnings: `carina status` counts an env's warnings in
// MESSAGE, and `carina status APP` lists them, one line each.
func TestWritesShowWarnings(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteApps(&buf, []AppSummary{{Name: "shop", Envs: []EnvSummary{{Name: "prod", Warnings: 2}, {Name: "dev", Warnings: 1}}}}); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "2 warnings") || !strings.Contains(out, "1 warning\n") {
		t.Errorf("summary table does not count the warnings:\n%s", out)
	}
	buf.Reset()
	a := AppStatus{Name: "shop", Envs: []EnvStatus{
		{Name: "staging"},
		{Name: "prod", Warnings: []string{`component "web": trait "expose" does not apply`, "context.clusterVersion is Kubernetes 1.36 (the default):\nforbidden"}},
	}}
	if err := WriteApp(&buf, a); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"ENV   WARNING", `prod  component "web": trait "expose" does not apply`, "prod  context.clusterVersion is Kubernetes 1.36 (the default): forbidden"} {
		if !strings.Contains(out, want) {
			t.Errorf("carina status APP does not show %q:\n%s", want, out)
		}
	}
	buf.Reset()
	if err := WriteApp(&buf, AppStatus{Name: "shop", Envs: []EnvStatus{{Name: "prod"}}}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "WARNING") {
		t.Errorf("a WARNING section without warnings:\n%s", buf.String())
	}
}

// TestShortRevision: revisions are shortened to 12 digits, also the bare
// commit a pinned environment applies (bug: "sha1:<40 digits>" of a
// pinned env filled the REVISION column).
func TestShortRevision(t *testing.T) {
	full := "5441b0b83ddc3ed636e97b75b02a5684edc2c081"
	for _, c := range []struct{ in, want string }{
		{"main@sha1:" + full, "main@sha1:5441b0b83ddc"},
		{"refs/pull/1/head@sha1:" + full, "refs/pull/1/head@sha1:5441b0b83ddc"},
		{"sha1:" + full, "sha1:5441b0b83ddc"},
		{"v1.2.0@sha256:" + full + full, "v1.2.0@sha256:5441b0b83ddc"},
		{"sha1:abc", "sha1:abc"},
		{"main", "main"},
		{"", ""},
	} {
		if got := ShortRevision(c.in); got != c.want {
			t.Errorf("ShortRevision(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
