// Package applytest builds objects and reads the audit log for the tests
// of package apply.
package applytest

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Labels are the ownership labels render puts on every object.
func Labels(app, env, component string) map[string]any {
	return map[string]any{"app.carina.dev/name": app, "app.carina.dev/env": env, "app.carina.dev/component": component}
}

// Owner names the app, env and component of objects.
type Owner struct{ App, Env, Component string }

func (o Owner) meta(ns, name string) map[string]any {
	m := map[string]any{"name": name, "labels": Labels(o.App, o.Env, o.Component)}
	if ns != "" {
		m["namespace"] = ns
	}
	return m
}

// ConfigMap returns a labelled ConfigMap.
func (o Owner) ConfigMap(ns, name string, data map[string]string) *unstructured.Unstructured {
	d := map[string]any{}
	for k, v := range data {
		d[k] = v
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap", "metadata": o.meta(ns, name), "data": d,
	}}
}

// Deployment returns a labelled Deployment whose pods carry podLabels too.
func (o Owner) Deployment(ns, name string, replicas int64, podLabels map[string]string) *unstructured.Unstructured {
	pl := map[string]any{"app": name}
	for k, v := range podLabels {
		pl[k] = v
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment", "metadata": o.meta(ns, name),
		"spec": map[string]any{
			"replicas": replicas,
			"selector": map[string]any{"matchLabels": map[string]any{"app": name}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": pl},
				"spec": map[string]any{"containers": []any{map[string]any{
					"name": "app", "image": "registry.example/app:1",
					"ports": []any{map[string]any{"containerPort": int64(8080)}},
				}}},
			},
		},
	}}
}

// Service returns a labelled headless Service (the test cluster's
// service range has room for only about 250 cluster IPs).
func (o Owner) Service(ns, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Service", "metadata": o.meta(ns, name),
		"spec": map[string]any{
			"clusterIP": "None",
			"selector":  map[string]any{"app": name},
			"ports":     []any{map[string]any{"port": int64(80), "targetPort": int64(8080), "protocol": "TCP"}},
		},
	}}
}

// Mixed returns n objects in ns: ConfigMaps, Deployments and Services in
// turn, named prefix-00000 on.
func (o Owner) Mixed(ns, prefix string, n int) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, 0, n)
	for i := range n {
		name := fmt.Sprintf("%s-%05d", prefix, i)
		switch i % 3 {
		case 0:
			out = append(out, o.ConfigMap(ns, name, map[string]string{"index": fmt.Sprint(i), "greeting": "hello"}))
		case 1:
			out = append(out, o.Deployment(ns, name, 0, nil))
		default:
			out = append(out, o.Service(ns, name))
		}
	}
	return out
}

// ConfigMaps returns n ConfigMaps in ns named prefix-00000 on.
func (o Owner) ConfigMaps(ns, prefix string, n int) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, 0, n)
	for i := range n {
		out = append(out, o.ConfigMap(ns, fmt.Sprintf("%s-%05d", prefix, i), map[string]string{"index": fmt.Sprint(i)}))
	}
	return out
}

// YAML joins objects into one multi-document YAML stream.
func YAML(objs []*unstructured.Unstructured) ([]byte, error) {
	var b strings.Builder
	for _, u := range objs {
		y, err := yaml.Marshal(u.Object)
		if err != nil {
			return nil, err
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return []byte(b.String()), nil
}
