package cluster

import (
	"context"
	"fmt"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// kwokNodeAnnotation marks the nodes kwok manages.
const kwokNodeAnnotation = "kwok.x-k8s.io/node"

// poll calls check every interval until it returns true, a component dies,
// or ctx ends. The last check error explains a timeout.
func (c *Cluster) poll(ctx context.Context, what string, check func(context.Context) (bool, error)) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		ok, err := check(ctx)
		if ok {
			return nil
		}
		last = err
		if exitErr := c.group.exited(); exitErr != nil {
			return exitErr
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)\n%s", what, ctx.Err(), last, c.Logs(15))
		case <-tick.C:
		}
	}
}

func (c *Cluster) waitAPIServer(ctx context.Context) error {
	cs, err := c.Client()
	if err != nil {
		return err
	}
	return c.poll(ctx, "kube-apiserver /readyz", func(ctx context.Context) (bool, error) {
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Raw()
		return err == nil && string(body) == "ok", err
	})
}

// waitReady creates the fake nodes and waits until they are Ready and
// schedulable and the default ServiceAccount exists, so pods can be created.
func (c *Cluster) waitReady(ctx context.Context, nodes int, began time.Time) error {
	cs, err := c.Client()
	if err != nil {
		return err
	}
	for i := range nodes {
		if err := createFakeNode(ctx, cs, fmt.Sprintf("kwok-node-%d", i)); err != nil {
			return err
		}
	}
	c.mark(began, "nodes-created")
	if err := c.poll(ctx, "default ServiceAccount", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, err
	}); err != nil {
		return err
	}
	c.mark(began, "default-serviceaccount")
	defer c.mark(began, "nodes-ready")
	return c.poll(ctx, "fake nodes Ready", func(ctx context.Context) (bool, error) {
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, n := range list.Items {
			if nodeSchedulable(&n) {
				ready++
			}
		}
		return ready >= nodes, fmt.Errorf("%d of %d nodes Ready and untainted", ready, nodes)
	})
}

func createFakeNode(ctx context.Context, cs kubernetes.Interface, name string) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{kwokNodeAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				"type":                   "kwok",
				"kubernetes.io/hostname": name,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
				"kubernetes.io/role":     "agent",
			},
		},
	}
	_, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("node %s: %w", name, err)
	}
	return nil
}

// nodeSchedulable is Ready=True and none of the NoSchedule/NoExecute taints
// that the node lifecycle controller puts on nodes that are not ready.
func nodeSchedulable(n *corev1.Node) bool {
	ready := false
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
			return false
		}
	}
	return ready
}

func processAlive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}
