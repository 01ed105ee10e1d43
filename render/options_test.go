package render

import (
	"os"
	"regexp"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/capabilities"
	"github.com/carina-gitops/carina/render/cue"
)

// TestDefaultKubeVersionIsClientGos: context.clusterVersion defaults to the
// minor of the client-go in go.mod (v0.X.Y serves Kubernetes 1.X).
func TestDefaultKubeVersionIsClientGos(t *testing.T) {
	data, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*k8s\.io/client-go v0\.(\d+)\.`).FindSubmatch(data)
	if m == nil {
		t.Fatal("go.mod requires no k8s.io/client-go")
	}
	if want := "1." + string(m[1]); DefaultKubeVersion != want {
		t.Errorf("DefaultKubeVersion = %s, want %s (client-go v0.%s)", DefaultKubeVersion, want, m[1])
	}
}

func TestParseClusterVersion(t *testing.T) {
	for _, tt := range []struct {
		in    string
		minor int64
		git   string
		err   bool
	}{
		{in: "1.18", minor: 18, git: "v1.18.0"},
		{in: "v1.30.2", minor: 30, git: "v1.30.2"},
		{in: "1.28+", minor: 28, git: "v1.28.0"},
		{in: "v1.28.3-eks-4f4795d", minor: 28, git: "v1.28.3-eks-4f4795d"},
		{in: "v1.30.2+k3s1", minor: 30, git: "v1.30.2+k3s1"},
		{in: "18", err: true},
		{in: "1.x", err: true},
	} {
		cv, err := cue.ParseClusterVersion(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("ParseClusterVersion(%q) error = %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if !tt.err && (cv.Minor != tt.minor || cv.GitVersion != tt.git || cv.Major != "1") {
			t.Errorf("ParseClusterVersion(%q) = %+v, want minor %d, gitVersion %s", tt.in, cv, tt.minor, tt.git)
		}
	}
}

// versionDefs has a component that writes context.clusterVersion down.
var versionDefs = fstest.MapFS{"defs/kube-info.cue": {Data: []byte(`"kube-info": {
	type: "component"
	attributes: workload: definition: {apiVersion: "v1", kind: "ConfigMap"}
}
template: {
	output: {
		apiVersion: "v1"
		kind:       "ConfigMap"
		metadata: name: context.name
		data: {
			major:      context.clusterVersion.major
			minor:      "\(context.clusterVersion.minor)"
			gitVersion: context.clusterVersion.gitVersion
			platform:   context.clusterVersion.platform
		}
	}
	parameter: {}
}
`)}}

// TestKubeVersionOptions: context.clusterVersion comes from KubeVersion
// and KubePlatform, as the agent takes them from a cluster's /version.
func TestKubeVersionOptions(t *testing.T) {
	reg := testRegistry(t, capabilities.Module{Source: capabilities.SourceApp, Name: "defs", FS: versionDefs, Dir: "defs"})
	app := &appfile.Application{Name: "shop", Dir: "apps/shop", Pos: pos(1, 1), Components: []appfile.Component{comp("info", "kube-info", 4, nil)}}
	for _, tt := range []struct {
		version, platform string
		want              map[string]any
	}{
		{"", "", map[string]any{"major": "1", "minor": DefaultKubeVersion[2:], "gitVersion": "v" + DefaultKubeVersion + ".0", "platform": "linux/amd64"}},
		{"v1.31.4-eks-4f4795d", "linux/arm64", map[string]any{"major": "1", "minor": "31", "gitVersion": "v1.31.4-eks-4f4795d", "platform": "linux/arm64"}},
	} {
		opts := DefaultOptions()
		opts.KubeVersion, opts.KubePlatform = tt.version, tt.platform
		res, err := Render(t.Context(), app, appfile.Environment{Name: "default"}, reg, repoFS(t).FS(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, res.Objects[0].Object.Object["data"]); diff != "" {
			t.Errorf("version %q (-want +got):\n%s", tt.version, diff)
		}
	}
}
