package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse checks that Parse never panics, and that it returns either a
// Config or an ErrorList whose every entry names the file.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("testdata/full.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("sources: {apps: [{name: a, url: \"https://h/a.git\"}]}\nclusters: [{name: c, inCluster: true}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("f.yaml", data)
		if err == nil {
			if cfg == nil || len(cfg.Clusters) == 0 || len(cfg.Sources.Apps) == 0 {
				t.Fatalf("Parse accepted an incomplete config: %+v", cfg)
			}
			return
		}
		if cfg != nil {
			t.Fatal("Parse returned a config with an error")
		}
		var list ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("error %T is not a non-empty ErrorList: %v", err, err)
		}
		for _, e := range list {
			if e.File != "f.yaml" {
				t.Fatalf("problem without the file name: %+v", e)
			}
		}
	})
}
