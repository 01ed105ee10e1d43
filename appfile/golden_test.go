package appfile

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// golden is what a golden file records for one input.
type golden struct {
	Application  *Application  `json:"application"`
	Environments []Environment `json:"environments"`
}

// TestGolden parses every testdata/golden/*.yaml and compares the
// Application and its environments with the .json next to it.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "golden", "*.yaml"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			app, err := Parse(filepath.ToSlash(in), data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			envs, err := Environments(app)
			if err != nil {
				t.Fatalf("Environments: %v", err)
			}
			got, err := json.MarshalIndent(golden{app, envs}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			out := strings.TrimSuffix(in, ".yaml") + ".json"
			if *update {
				if err := os.WriteFile(out, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", out, diff)
			}
		})
	}
}

// TestShortFormMatchesKubeVela checks that the short Appfile of the shop
// example means exactly what its KubeVela form means.
func TestShortFormMatchesKubeVela(t *testing.T) {
	parse := func(name string) (*Application, []Environment) {
		t.Helper()
		data, err := os.ReadFile(filepath.Join("testdata", "golden", name))
		if err != nil {
			t.Fatal(err)
		}
		app, err := Parse(name, data)
		if err != nil {
			t.Fatalf("Parse %s: %v", name, err)
		}
		envs, err := Environments(app)
		if err != nil {
			t.Fatalf("Environments %s: %v", name, err)
		}
		return app, envs
	}
	wantApp, wantEnvs := parse("shop-kubevela.yaml")
	gotApp, gotEnvs := parse("shop-appfile.yaml")
	ignorePos := cmpopts.IgnoreTypes(Position{})
	if diff := cmp.Diff(wantApp, gotApp, ignorePos); diff != "" {
		t.Errorf("application mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantEnvs, gotEnvs, ignorePos); diff != "" {
		t.Errorf("environments mismatch (-want +got):\n%s", diff)
	}
}
