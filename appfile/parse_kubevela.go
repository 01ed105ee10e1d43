package appfile

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

var (
	kubeVelaKeys        = []string{"apiVersion", "kind", "metadata", "spec"}
	metadataKeys        = []string{"name", "namespace", "labels", "annotations"}
	metadataUnsupported = []string{"generateName"}
	specKeys            = []string{"components", "policies", "workflow"}
)

// kubeVelaApp reads a core.oam.dev Application document.
func (r *reader) kubeVelaApp(root *yaml.Node) *Application {
	app := &Application{Pos: r.pos(root), Components: []Component{}}
	what := "application"
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := resolve(root.Content[i]); k.Kind == yaml.ScalarNode && k.Value == "metadata" {
			if name := peekName(root.Content[i+1]); name != "" {
				what = fmt.Sprintf("application %q", name)
			}
		}
	}
	fs := withoutSOPS(r.fields(root, what))
	k := r.known(fs, what, kubeVelaKeys, nil)
	if v := k.get("apiVersion"); v != nil && r.str(v, what+" apiVersion") != kubeVelaAPIVersion {
		r.errorf(v, "%s: apiVersion %q is not supported; use %s", what, resolve(v).Value, kubeVelaAPIVersion)
	}
	if md := k.get("metadata"); md != nil {
		r.metadata(app, md, what)
	} else {
		r.errorf(root, "%s: metadata is required", what)
	}
	spec := k.get("spec")
	if spec == nil {
		r.errorf(root, "%s: spec is required", what)
		return app
	}
	sk, ok := r.strictMapping(spec, what+" spec", specKeys, nil)
	if !ok {
		return app
	}
	if _, has := sk["components"]; !has {
		r.errorf(spec, "%s: spec.components is required", what)
	}
	app.Components = r.components(sk.get("components"))
	app.Policies = r.policies(sk.get("policies"), "spec.policies")
	app.Workflow = r.workflow(sk.get("workflow"))
	return app
}

func (r *reader) metadata(app *Application, n *yaml.Node, what string) {
	k, ok := r.strictMapping(n, what+" metadata", metadataKeys, metadataUnsupported)
	if !ok {
		return
	}
	app.Name = r.str(k.get("name"), what+" metadata.name")
	app.Namespace = r.str(k.get("namespace"), what+" metadata.namespace")
	app.Labels = r.strMap(k.get("labels"), what+" metadata.labels")
	app.Annotations = r.strMap(k.get("annotations"), what+" metadata.annotations")
	app.AllowEmpty = app.Annotations[AllowEmptyAnnotation] == "true"
}
