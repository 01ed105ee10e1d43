package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ensureNamespaces creates the missing namespaces of the stage's
// namespaced objects, except those the set defines. A namespace where the
// LIST found one of the set's objects exists: only the others are read.
// It returns the number of writes.
func (a *applier) ensureNamespaces(ctx context.Context, items []*item) (int, error) {
	defined := map[string]bool{}
	for _, it := range a.items {
		if it.id.GroupKind() == namespaceGK {
			defined[it.id.Name] = true
		}
	}
	seen := map[string]bool{}
	var check []string
	for _, it := range items {
		if it.ours {
			seen[it.id.Namespace] = true
		}
	}
	for _, it := range items {
		ns := it.id.Namespace
		if ns == "" || seen[ns] || defined[ns] || it.mapping == nil || it.mapping.Scope.Name() != meta.RESTScopeNameNamespace {
			continue
		}
		seen[ns] = true
		check = append(check, ns)
	}
	slices.Sort(check)
	writes := 0
	for _, ns := range check {
		err := a.m.retry(ctx, func() error {
			_, err := a.m.dyn.Resource(namespaceGVR).Get(ctx, ns, metav1.GetOptions{})
			return err
		})
		if err == nil {
			continue
		}
		if !apierrors.IsNotFound(err) {
			return writes, fmt.Errorf("namespace %s: %w", ns, err)
		}
		a.wrote = true
		writes++
		if err := a.m.ensureNamespace(ctx, ns); err != nil {
			return writes, fmt.Errorf("creating namespace %s: %w", ns, err)
		}
	}
	return writes, nil
}

// namespaceMissing reports whether an object's request failed because
// its namespace does not exist.
func namespaceMissing(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || !apierrors.IsNotFound(err) {
		return false
	}
	d := status.Status().Details
	return d != nil && d.Kind == "namespaces"
}
