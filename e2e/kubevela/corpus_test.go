package kubevela

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/capabilities"
	"github.com/carina-gitops/carina/render"
)

// This file is the corpus harness, shared by the run with KubeVela's
// definitions (corpus_kubevela_test.go) and the run with Carina's built-ins
// (corpus_builtin_test.go). It exports nothing.

// kubevelaDefinitions is KubeVela's definition folder, unchanged, in the
// shared reference material next to the repository.
var kubevelaDefinitions = filepath.Join("..", "..", "..", "shared", "kubevela", "definitions")

// corpusCase is one Application of the corpus and what vela rendered for it.
type corpusCase struct {
	name string // file name without .yaml
	app  string // path of the Application
	// vela is the path of vela's output: <name>.yaml, or <name>.error when
	// vela refused the Application.
	vela    string
	wantErr bool
}

// corpusCases lists testdata/apps; every app has its vela output.
func corpusCases(t *testing.T) []corpusCase {
	t.Helper()
	apps, err := filepath.Glob(filepath.Join("testdata", "apps", "*.yaml"))
	if err != nil || len(apps) == 0 {
		t.Fatalf("no corpus applications in testdata/apps: %v", err)
	}
	var out []corpusCase
	for _, app := range apps {
		name := strings.TrimSuffix(filepath.Base(app), ".yaml")
		c := corpusCase{name: name, app: app, vela: filepath.Join("testdata", "vela", name+".yaml")}
		if _, err := os.Stat(c.vela); err != nil {
			c.vela, c.wantErr = filepath.Join("testdata", "vela", name+".error"), true
			if _, err := os.Stat(c.vela); err != nil {
				t.Fatalf("%s has no vela output (%s.yaml or %s.error in testdata/vela)", app, name, name)
			}
		}
		out = append(out, c)
	}
	return out
}

var (
	cacheOnce sync.Once
	cache     *capabilities.Cache
)

// corpusRegistry builds a registry over the given definition folders (as
// capability modules, in precedence order), plus the built-in library when
// builtin is set. testdata/definitions (the corpus's own test traits) is
// always the last module.
func corpusRegistry(t testing.TB, builtin bool, dirs ...string) *capabilities.Registry {
	t.Helper()
	cacheOnce.Do(func() { cache = capabilities.NewCache(capabilities.DefaultCacheOptions()) })
	var mods []capabilities.Module
	for _, dir := range append(slices.Clone(dirs), filepath.Join("testdata", "definitions")) {
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("definition folder %s: %v", dir, err)
		}
		mods = append(mods, capabilities.Module{Source: capabilities.SourceCapability, Name: filepath.ToSlash(dir), FS: os.DirFS(dir), Dir: "."})
	}
	opts := capabilities.DefaultOptions()
	opts.Cache, opts.Builtin = cache, builtin
	reg, err := capabilities.NewRegistry(t.Context(), opts, mods...)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// corpusRun says how one run renders the corpus.
type corpusRun struct {
	reg *capabilities.Registry
	// kubeVersion is the render's --kube-version. vela dry-run --offline
	// renders for a cluster below 1.19 (its context.clusterVersion.minor is
	// 0), so the run with KubeVela's definitions uses 1.18.
	kubeVersion string
	// known lists the apps whose difference the run expects, with why; such
	// an app must still differ (so the list cannot go stale).
	known map[string]string
}

// runCorpus renders every corpus app with Carina and compares each
// environment's objects with vela's, after normalize.
func runCorpus(t *testing.T, run corpusRun) {
	for _, c := range corpusCases(t) {
		t.Run(c.name, func(t *testing.T) {
			diff := compareCase(t, run, c)
			why, known := run.known[c.name]
			switch {
			case known && diff == "":
				t.Errorf("%s matches vela now: remove it from the known differences (%s)", c.name, why)
			case !known && diff != "":
				t.Errorf("%s differs from vela dry-run:\n%s", c.name, diff)
			}
		})
	}
}

// compareCase returns "" when Carina renders what vela rendered.
func compareCase(t *testing.T, run corpusRun, c corpusCase) string {
	t.Helper()
	data, err := os.ReadFile(c.app)
	if err != nil {
		t.Fatal(err)
	}
	velaOut, err := os.ReadFile(c.vela)
	if err != nil {
		t.Fatal(err)
	}
	got, rerr := renderCarina(t, run, c.name+".yaml", data)
	if c.wantErr {
		return compareError(string(velaOut), rerr)
	}
	if rerr != nil {
		return fmt.Sprintf("carina render failed: %v", rerr)
	}
	want, err := parseVela(velaOut)
	if err != nil {
		t.Fatalf("%s: %v", c.vela, err)
	}
	return compareEnvs(want, got)
}

// compareError: vela refused the app, so Carina must refuse it too, with
// the message the definition gives (the last line of vela's error).
func compareError(velaErr string, err error) string {
	lines := strings.Split(strings.TrimSpace(velaErr), "\n")
	msg := strings.TrimSpace(lines[len(lines)-1])
	switch {
	case err == nil:
		return fmt.Sprintf("carina rendered the app, vela refused it: %s", strings.TrimSpace(velaErr))
	case !strings.Contains(err.Error(), msg):
		return fmt.Sprintf("carina's error does not say %q:\n%v", msg, err)
	}
	return ""
}

// renderedEnv is what one environment rendered: its objects by identity
// (see objectKey), normalized.
type renderedEnv map[string]map[string]any

// renderCarina renders every environment of the app.
func renderCarina(t *testing.T, run corpusRun, file string, data []byte) (map[string]renderedEnv, error) {
	t.Helper()
	app, err := appfile.Parse(file, data)
	if err != nil {
		return nil, err
	}
	app.Dir = "."
	envs, err := appfile.Environments(app)
	if err != nil {
		return nil, err
	}
	opts := render.DefaultOptions()
	opts.KubeVersion = run.kubeVersion
	out := map[string]renderedEnv{}
	for _, env := range envs {
		res, err := render.Render(t.Context(), app, env, run.reg, os.DirFS("testdata"), opts)
		if err != nil {
			return nil, err
		}
		objs := renderedEnv{}
		for _, o := range res.Objects {
			m := normalize(o.Object.Object)
			objs[objectKey(m)] = m
		}
		out[env.Name] = objs
	}
	return out, nil
}

// velaHeader is the comment vela dry-run writes before each component's
// objects: "# Application(NAME) -- Component(C)", where NAME may end in
// " with topology T" or " only with override policies".
var velaHeader = regexp.MustCompile(`^# Application\((.*)\) -- (Component|Policy)\((.*)\)$`)

// parseVela reads vela dry-run's output into environments: "NAME with
// topology T" is Carina's environment T; anything else (no deploy step, or
// a deploy step without topology) is appfile.DefaultEnv.
func parseVela(data []byte) (map[string]renderedEnv, error) {
	out := map[string]renderedEnv{}
	env := ""
	for _, doc := range splitDocs(data) {
		body := strings.TrimSpace(doc)
		if body == "" {
			continue
		}
		var content []string
		for _, line := range strings.Split(body, "\n") {
			if m := velaHeader.FindStringSubmatch(line); m != nil {
				env = appfile.DefaultEnv
				if _, topo, ok := strings.Cut(m[1], " with topology "); ok {
					env = topo
				}
				continue
			}
			if strings.HasPrefix(line, "#") {
				continue
			}
			content = append(content, line)
		}
		if strings.TrimSpace(strings.Join(content, "")) == "" {
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(strings.Join(content, "\n")), &obj); err != nil {
			return nil, err
		}
		if env == "" {
			return nil, fmt.Errorf("an object before any Application header: %v", obj)
		}
		if out[env] == nil {
			out[env] = renderedEnv{}
		}
		m := normalize(obj)
		out[env][objectKey(m)] = m
	}
	return out, nil
}

func splitDocs(data []byte) []string {
	var docs []string
	var cur bytes.Buffer
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if strings.TrimRight(line, "\n") == "---" {
			docs = append(docs, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(line)
	}
	return append(docs, cur.String())
}

// bookkeeping are label and annotation prefixes that say who rendered an
// object; both tools put their own on the top-level metadata, and the
// comparison leaves them out there (and only there).
var bookkeeping = []string{"app.oam.dev/", "workload.oam.dev/", "trait.oam.dev/", "app.carina.dev/", "oam.dev/"}

// normalize prepares an object for comparison:
//   - numbers as JSON has them (both sides decode alike);
//   - top-level bookkeeping labels and annotations removed;
//   - the namespace removed: vela dry-run puts the application's namespace
//     on every object, cluster-scoped ones included, and ignores the
//     topology's namespace, so vela's namespaces say nothing; Carina's are
//     checked by the render package's own tests.
func normalize(obj map[string]any) map[string]any {
	var m map[string]any
	b, _ := json.Marshal(obj)
	_ = json.Unmarshal(b, &m)
	md, _ := m["metadata"].(map[string]any)
	if md == nil {
		return m
	}
	delete(md, "namespace")
	for _, field := range []string{"labels", "annotations"} {
		kv, _ := md[field].(map[string]any)
		for k := range kv {
			for _, p := range bookkeeping {
				if strings.HasPrefix(k, p) {
					delete(kv, k)
				}
			}
		}
		if kv != nil && len(kv) == 0 {
			delete(md, field)
		}
	}
	return m
}

// objectKey identifies an object in one environment: apiVersion, kind and
// name.
func objectKey(m map[string]any) string {
	md, _ := m["metadata"].(map[string]any)
	return fmt.Sprintf("%v %v %v", m["apiVersion"], m["kind"], md["name"])
}

// compareEnvs diffs two renders environment by environment.
func compareEnvs(want, got map[string]renderedEnv) string {
	var b strings.Builder
	for _, env := range sortedKeys(want, got) {
		w, g := want[env], got[env]
		switch {
		case w == nil:
			fmt.Fprintf(&b, "env %s: carina renders it, vela does not\n", env)
			continue
		case g == nil:
			fmt.Fprintf(&b, "env %s: vela renders it, carina does not\n", env)
			continue
		}
		if d := cmp.Diff(w, g); d != "" {
			fmt.Fprintf(&b, "env %s (-vela +carina):\n%s", env, d)
		}
	}
	return b.String()
}

func sortedKeys(a, b map[string]renderedEnv) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
