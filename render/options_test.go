package render

import (
	"os"
	"regexp"
	"testing"

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
