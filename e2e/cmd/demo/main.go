// Command demo is `make demo`: it starts a local control plane, applies the
// example in examples/demo with server-side apply, and shows the Deployment
// becoming Available. It keeps the cluster running until Ctrl-C, or exits
// when done with -exit (as the e2e test runs it).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"github.com/carina-gitops/carina/e2e/cluster"
)

func main() {
	file := flag.String("f", "examples/demo/deployment.yaml", "manifests to apply")
	exit := flag.Bool("exit", false, "stop the cluster and exit once the Deployment is Available")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *file, *exit, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, file string, exit bool, out io.Writer) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	objs, err := decode(data)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	fmt.Fprintln(out, "==> starting a local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)")
	opts := cluster.DefaultOptions()
	opts.Name, opts.Build.Log = "demo", out
	c, err := cluster.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer c.Stop()
	fmt.Fprintf(out, "    ready in %s at %s\n    kubeconfig: %s\n", c.StartupDuration().Round(time.Millisecond), c.Server(), c.Kubeconfig())
	cs, err := c.Client()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "==> applying %s (server-side apply)\n", file)
	if err := apply(ctx, c, cs, objs, out); err != nil {
		return err
	}
	fmt.Fprintln(out, "==> waiting for the Deployment to become Available")
	if err := waitAvailable(ctx, cs, objs, out); err != nil {
		return err
	}
	if exit {
		return nil
	}
	fmt.Fprintf(out, "\nThe cluster keeps running. Try:\n  %s --kubeconfig %s get deploy,pods,svc -n demo\nPress Ctrl-C to stop.\n", c.Binaries().Kubectl, c.Kubeconfig())
	<-ctx.Done()
	fmt.Fprintln(out, "\n==> stopping")
	return nil
}

func decode(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(u.Object) > 0 {
			objs = append(objs, &u)
		}
	}
}

func apply(ctx context.Context, c *cluster.Cluster, cs kubernetes.Interface, objs []*unstructured.Unstructured, out io.Writer) error {
	dyn, err := dynamic.NewForConfig(c.RESTConfig())
	if err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(c.RESTConfig())
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	seen := map[string]bool{}
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" && !seen[ns] {
			seen[ns] = true
			nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
			if _, err := cs.CoreV1().Namespaces().Create(ctx, nsObj, metav1.CreateOptions{}); err != nil && !isAlreadyExists(err) {
				return err
			}
		}
		m, err := mapper.RESTMapping(o.GroupVersionKind().GroupKind(), o.GroupVersionKind().Version)
		if err != nil {
			return err
		}
		body, err := o.MarshalJSON()
		if err != nil {
			return err
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ri = dyn.Resource(m.Resource).Namespace(o.GetNamespace())
		}
		force := true
		if _, err := ri.Patch(ctx, o.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: "carina-demo", Force: &force}); err != nil {
			return fmt.Errorf("%s/%s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
		fmt.Fprintf(out, "    %s/%s configured\n", o.GetKind(), o.GetName())
	}
	return nil
}
