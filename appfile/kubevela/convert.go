package kubevela

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// ApplicationResource is KubeVela's Application.
var ApplicationResource = schema.GroupVersionResource{Group: "core.oam.dev", Version: "v1beta1", Resource: "applications"}

// MaxApplications bounds what one read returns.
const MaxApplications = 10000

// File is one application as a file.
type File struct {
	// Path is <namespace>/<name>.yaml.
	Path            string
	Namespace, Name string
	Data            []byte
}

// Annotations and labels that are KubeVela's or the API server's
// bookkeeping; a key ending in / is a prefix. app.oam.dev/publishVersion
// is the user's, and stays.
var bookkeeping = []string{
	"kubectl.kubernetes.io/last-applied-configuration",
	"oam.dev/kubevela-version",
	"app.oam.dev/",
	"meta.helm.sh/", "helm.sh/",
}

const keepPublishVersion = "app.oam.dev/publishVersion"

// ToFile keeps an Application's apiVersion, kind, name, namespace, the
// user's labels and annotations, and spec.
func ToFile(u *unstructured.Unstructured) (File, error) {
	ref := "Application/" + u.GetNamespace() + "/" + u.GetName()
	if u.GetKind() != "Application" || !strings.HasPrefix(u.GetAPIVersion(), "core.oam.dev/") {
		return File{}, fmt.Errorf("%s: %s is not a KubeVela Application", ref, u.GetObjectKind().GroupVersionKind())
	}
	spec, ok := u.Object["spec"].(map[string]any)
	if !ok {
		return File{}, fmt.Errorf("%s has no spec", ref)
	}
	meta := map[string]any{"name": u.GetName()}
	if ns := u.GetNamespace(); ns != "" {
		meta["namespace"] = ns
	}
	if m := keep(u.GetLabels()); len(m) > 0 {
		meta["labels"] = m
	}
	if m := keep(u.GetAnnotations()); len(m) > 0 {
		meta["annotations"] = m
	}
	out := map[string]any{"apiVersion": u.GetAPIVersion(), "kind": "Application", "metadata": meta, "spec": spec}
	data, err := yaml.Marshal(out)
	if err != nil {
		return File{}, fmt.Errorf("%s: %w", ref, err)
	}
	ns := u.GetNamespace()
	if ns == "" {
		ns = "default"
	}
	return File{Path: path.Join(ns, u.GetName()+".yaml"), Namespace: u.GetNamespace(), Name: u.GetName(), Data: data}, nil
}

func keep(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if k == keepPublishVersion || !dropped(k) {
			out[k] = v
		}
	}
	return out
}

func dropped(k string) bool {
	for _, b := range bookkeeping {
		if k == b || (strings.HasSuffix(b, "/") && strings.HasPrefix(k, b)) {
			return true
		}
	}
	return false
}

// ReadApplications lists the Applications of a namespace ("" for all)
// and converts each, sorted by path.
func ReadApplications(ctx context.Context, dyn dynamic.Interface, namespace string) ([]File, error) {
	list, err := dyn.Resource(ApplicationResource).Namespace(namespace).List(ctx, metav1.ListOptions{Limit: MaxApplications})
	if err != nil {
		return nil, fmt.Errorf("applications: list: %w", err)
	}
	if list.GetContinue() != "" {
		return nil, fmt.Errorf("applications: more than %d", MaxApplications)
	}
	files := make([]File, 0, len(list.Items))
	for i := range list.Items {
		f, err := ToFile(&list.Items[i])
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}
