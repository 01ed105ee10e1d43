package main

import (
	"context"
	"fmt"
	"io"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
)

func isAlreadyExists(err error) bool { return apierrors.IsAlreadyExists(err) }

// waitAvailable prints each Deployment's progress until it is Available.
func waitAvailable(ctx context.Context, cs kubernetes.Interface, objs []*unstructured.Unstructured, out io.Writer) error {
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		start, lastLine := time.Now(), ""
		for {
			d, err := cs.AppsV1().Deployments(o.GetNamespace()).Get(ctx, o.GetName(), metav1.GetOptions{})
			if err != nil {
				return err
			}
			line := fmt.Sprintf("    deployment/%s: %d/%d ready, %d available", d.Name, d.Status.ReadyReplicas, *d.Spec.Replicas, d.Status.AvailableReplicas)
			if line != lastLine {
				fmt.Fprintln(out, line)
				lastLine = line
			}
			if isAvailable(d) {
				fmt.Fprintf(out, "    deployment/%s is Available (%s after apply)\n", d.Name, time.Since(start).Round(time.Millisecond))
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("deployment/%s not Available: %w", d.Name, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

func isAvailable(d *appsv1.Deployment) bool {
	if d.Status.ObservedGeneration < d.Generation || d.Status.AvailableReplicas < *d.Spec.Replicas {
		return false
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}
