package kubevela

import (
	"context"
	"fmt"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// Resources of the definition kinds, in core.oam.dev/v1beta1.
var definitionResources = []string{"componentdefinitions", "traitdefinitions", "policydefinitions", "workflowstepdefinitions"}

// Group and version of KubeVela's API.
const (
	Group   = "core.oam.dev"
	Version = "v1beta1"
)

// MaxDefinitions bounds what one read returns.
const MaxDefinitions = 5000

// ReadDefinitions lists the definition objects of a namespace and
// converts each into a file, sorted by path. A kind whose CRD is not
// installed is skipped. An object that cannot be converted (not CUE, a
// template that does not parse) is an error that names it; the others
// are still returned.
func ReadDefinitions(ctx context.Context, dyn dynamic.Interface, namespace string) ([]File, error) {
	var files []File
	var errs []error
	for _, res := range definitionResources {
		gvr := schema.GroupVersionResource{Group: Group, Version: Version, Resource: res}
		list, err := dyn.Resource(gvr).Namespace(namespace).List(ctx, metav1.ListOptions{Limit: MaxDefinitions})
		if err != nil {
			if isNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("%s in namespace %s: list: %w", res, namespace, err)
		}
		if list.GetContinue() != "" {
			return nil, fmt.Errorf("%s in namespace %s: more than %d objects", res, namespace, MaxDefinitions)
		}
		for i := range list.Items {
			f, err := ToFile(&list.Items[i])
			if err != nil {
				errs = append(errs, err)
				continue
			}
			files = append(files, f)
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, joinErrs(errs)
}
