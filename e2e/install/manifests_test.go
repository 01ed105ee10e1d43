package install

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// repoPath is a path of the repository, from this package's directory.
func repoPath(rel string) string { return filepath.Join("..", "..", filepath.FromSlash(rel)) }

// kustomizations are the kustomize directories a user installs.
var kustomizations = []string{
	"deploy/kustomize/base",
	"deploy/kustomize/overlays/ha",
	"deploy/kustomize/overlays/namespaced-tenants",
}

// kustomize builds dir as `kubectl kustomize` does.
func kustomize(t testing.TB, dir string) []byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), repoPath(dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// object is the part of a manifest the tests look at.
type object struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   objectMeta     `json:"metadata"`
	Data       map[string]any `json:"data"`
	Spec       map[string]any `json:"spec"`
	Rules      []rbacRule     `json:"rules"`
}

type objectMeta struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels"`
}

type rbacRule struct {
	APIGroups     []string `json:"apiGroups"`
	Resources     []string `json:"resources"`
	Verbs         []string `json:"verbs"`
	ResourceNames []string `json:"resourceNames"`
}

// objects splits a YAML stream into objects.
func objects(t testing.TB, stream []byte) []object {
	t.Helper()
	var out []object
	for doc := range bytes.SplitSeq(stream, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var o object
		if err := yaml.Unmarshal(doc, &o); err != nil {
			t.Fatalf("%v in\n%s", err, doc)
		}
		if o.Kind != "" {
			out = append(out, o)
		}
	}
	return out
}

// find returns the object of kind and name, failing the test when there
// is none.
func find(t testing.TB, objs []object, kind, name string) object {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && o.Metadata.Name == name {
			return o
		}
	}
	t.Fatalf("no %s %s among %d objects", kind, name, len(objs))
	return object{}
}

func readRepoFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(repoPath(rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
