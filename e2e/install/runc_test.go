package install

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// TestImageRunsInContainer runs the image for real with runc (Debian
// package runc; crun 1.8 refuses this machine's hybrid cgroup layout):
// as 65532:65532 on a read-only root, `carina version`, then `carina
// agent --check` with the kustomize ConfigMap's carina.yaml mounted at
// /etc/carina, as the Deployment mounts it.
func TestImageRunsInContainer(t *testing.T) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("needs runc (apt-get install runc) to run the image; TestImage checks it without one")
	}
	if os.Geteuid() != 0 {
		t.Skip("runc needs root here (no rootless setup)")
	}
	img := readImage(t, builtImage(t))
	bundle := t.TempDir()
	rootfs := filepath.Join(bundle, "rootfs")
	rc := mutate.Extract(img)
	defer rc.Close()
	extract(t, rc, rootfs, nil)
	confDir := t.TempDir()
	for _, o := range objects(t, kustomize(t, "deploy/kustomize/base")) {
		if o.Kind == "ConfigMap" && strings.HasPrefix(o.Metadata.Name, "carina-config") {
			if err := os.WriteFile(filepath.Join(confDir, "carina.yaml"), []byte(o.Data["carina.yaml"].(string)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	env := append(cf.Config.Env, "CARINA_GITHUB_WEBHOOK_SECRET=s3cret", "CARINA_API_TOKEN=t0ken", "CARINA_GIT_PASSWORD=pa55")
	for i, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"version"}, imageVersion},
		{[]string{"agent", "--check", "--config", "/etc/carina/carina.yaml"}, "is valid"},
		{[]string{"agent", "--check", "--config", "/etc/carina/missing.yaml"}, "no such file"},
	} {
		args := append(append([]string{}, cf.Config.Entrypoint...), tc.args...)
		writeSpec(t, bundle, args, env, confDir)
		cmd := exec.Command(runc, "run", "--bundle", bundle, fmt.Sprintf("carina-image-test-%d-%d", os.Getpid(), i))
		out, err := cmd.CombinedOutput()
		if tc.want == "no such file" {
			err = nil // exits 1, as it should
		}
		if err != nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("runc: carina %s: %v\n%s", strings.Join(tc.args, " "), err, out)
		}
		t.Logf("in the container: carina %s: %s", strings.Join(tc.args, " "), strings.TrimSpace(string(out)))
	}
}

// writeSpec writes a minimal OCI runtime config: the image's user, a
// read-only root, all capabilities dropped, no new privileges.
func writeSpec(t *testing.T, bundle string, args, env []string, confDir string) {
	t.Helper()
	spec := map[string]any{
		"ociVersion": "1.0.2",
		"process": map[string]any{
			"terminal": false, "user": map[string]any{"uid": 65532, "gid": 65532},
			"args": args, "env": env, "cwd": "/", "noNewPrivileges": true,
			"capabilities": map[string]any{"bounding": []string{}, "effective": []string{}, "permitted": []string{}},
		},
		"root":     map[string]any{"path": "rootfs", "readonly": true},
		"hostname": "carina",
		"mounts": []map[string]any{
			{"destination": "/proc", "type": "proc", "source": "proc"},
			{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "nodev", "mode=1777"}},
			{"destination": "/etc/carina", "type": "bind", "source": confDir, "options": []string{"rbind", "ro"}},
		},
		"linux": map[string]any{
			"namespaces":  []map[string]string{{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}},
			"maskedPaths": []string{"/proc/kcore", "/proc/keys"}, "readonlyPaths": []string{"/proc/sys"},
		},
	}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
