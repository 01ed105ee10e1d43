package appfile

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// addSeeds adds the golden inputs to a fuzz target's corpus, next to the
// files in testdata/fuzz/<target>.
func addSeeds(f *testing.F) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.yaml"))
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(billionLaughs()))
}

// FuzzParse checks that Parse never panics, stays within its limits, and
// that whatever it accepts is valid, JSON-encodable and has environments.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	tight := ParseOptions{MaxFileBytes: 4096, MaxDocuments: 4, MaxDepth: 12, MaxNodes: 400}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, opts := range []ParseOptions{DefaultParseOptions(), tight} {
			apps, err := ParseAll("f.yaml", data, opts)
			if err != nil {
				checkErrorList(t, err, "f.yaml")
				continue
			}
			if len(data) > opts.MaxFileBytes {
				t.Fatalf("accepted %d bytes over a limit of %d", len(data), opts.MaxFileBytes)
			}
			for _, app := range apps {
				checkAccepted(t, app, opts)
			}
		}
	})
}

// FuzzLoad checks Load on a tree holding the input both as an Appfile and
// as an ordinary YAML file.
func FuzzLoad(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{
			"apps/a/Appfile":   &fstest.MapFile{Data: data},
			"apps/b/some.yaml": &fstest.MapFile{Data: data},
		}
		apps, err := Load(fsys, ".")
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error is not a non-empty ErrorList: %v", err)
			}
			return
		}
		for _, app := range apps {
			if app.Dir != "apps/a" && app.Dir != "apps/b" {
				t.Fatalf("application %q has Dir %q", app.Name, app.Dir)
			}
			checkAccepted(t, app, DefaultParseOptions())
		}
	})
}

func checkErrorList(t *testing.T, err error, file string) {
	t.Helper()
	var list ErrorList
	if !errors.As(err, &list) || len(list) == 0 {
		t.Fatalf("error is not a non-empty ErrorList: %v", err)
	}
	for _, e := range list {
		if e.Pos.File != file || e.Msg == "" {
			t.Fatalf("error without file or message: %#v", e)
		}
	}
}

func checkAccepted(t *testing.T, app *Application, opts ParseOptions) {
	t.Helper()
	if err := Validate(app); err != nil {
		t.Fatalf("accepted application does not validate: %v", err)
	}
	if _, err := Environments(app); err != nil {
		t.Fatalf("accepted application has no environments: %v", err)
	}
	for _, c := range app.Components {
		if c.Pos.Line == 0 {
			t.Fatalf("component %q has no position", c.Name)
		}
		if n := countValues(c.Properties); n > opts.MaxNodes {
			t.Fatalf("component %q expanded to %d values, over the limit of %d", c.Name, n, opts.MaxNodes)
		}
	}
	if _, err := json.Marshal(app); err != nil {
		t.Fatalf("accepted application does not encode: %v", err)
	}
}

func countValues(v any) int {
	n := 1
	switch v := v.(type) {
	case map[string]any:
		for _, x := range v {
			n += 1 + countValues(x)
		}
	case []any:
		for _, x := range v {
			n += countValues(x)
		}
	}
	return n
}
