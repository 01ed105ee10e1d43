package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/carina-gitops/carina/appfile"
)

// Labels of a namespace the agent created for a preview: it is deleted
// once the preview is pruned. A namespace that existed before is never
// labelled, so never deleted. They are not the app.carina.dev labels of
// managed objects: the namespace is in no inventory.
const (
	labelPreviewApp = "preview.carina.dev/app"
	labelPreviewEnv = "preview.carina.dev/env"
	// previewRoleBinding binds the preview's service account to the
	// policy's ClusterRole in the preview namespace only.
	previewRoleBinding = "carina-preview"
)

// ensureNamespaces makes the preview namespace of env in each of its
// clusters, as the agent: the namespace (labelled as the agent's when it
// creates it) and, when the policy names a service account, that account
// and a RoleBinding of it to the policy's ClusterRole there. The preview
// itself is then applied as that account, which can write nowhere else.
func (p *previews) ensureNamespaces(ctx context.Context, app string, env appfile.Environment, pol *appfile.Preview) error {
	var errs []error
	for _, c := range env.Clusters {
		if err := p.ensureNamespace(ctx, c, app, env, pol); err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: preview namespace %s: %w", c, env.Namespace, err))
		}
	}
	return errors.Join(errs...)
}

func (p *previews) ensureNamespace(ctx context.Context, cluster, app string, env appfile.Environment, pol *appfile.Preview) error {
	cs := p.clients[cluster]
	if cs == nil {
		return fmt.Errorf("no client for cluster %s", cluster)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: env.Namespace, Labels: map[string]string{labelPreviewApp: app, labelPreviewEnv: env.Name}}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{FieldManager: "carina"}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if pol.ServiceAccount == "" {
		return nil
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: pol.ServiceAccount, Namespace: env.Namespace}}
	if _, err := cs.CoreV1().ServiceAccounts(env.Namespace).Create(ctx, sa, metav1.CreateOptions{FieldManager: "carina"}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: previewRoleBinding, Namespace: env.Namespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: pol.ClusterRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: pol.ServiceAccount, Namespace: env.Namespace}},
	}
	if _, err := cs.RbacV1().RoleBindings(env.Namespace).Create(ctx, rb, metav1.CreateOptions{FieldManager: "carina"}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// deleteNamespaces deletes, in every cluster, the namespaces the agent
// created for (app, env).
func (p *previews) deleteNamespaces(ctx context.Context, app, env string) {
	sel := labels.SelectorFromSet(labels.Set{labelPreviewApp: app, labelPreviewEnv: env}).String()
	for _, c := range slices.Sorted(maps.Keys(p.clients)) {
		cs := p.clients[c]
		list, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			p.log.Warn("preview namespaces cannot be listed", "cluster", c, "app", app, "env", env, "error", sanitize(err, p.now()).Message)
			continue
		}
		for _, ns := range list.Items {
			err := cs.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				p.log.Warn("preview namespace not deleted", "cluster", c, "namespace", ns.Name, "error", sanitize(err, p.now()).Message)
				continue
			}
			p.log.Info("preview namespace deleted", "cluster", c, "app", app, "env", env, "namespace", ns.Name)
		}
	}
}
