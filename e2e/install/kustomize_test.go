package install

import (
	"bytes"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// deployment returns the agent's Deployment of a YAML stream.
func deployment(t testing.TB, stream []byte) *appsv1.Deployment {
	t.Helper()
	for doc := range bytes.SplitSeq(stream, []byte("\n---\n")) {
		var d appsv1.Deployment
		if err := yaml.Unmarshal(doc, &d); err == nil && d.Kind == "Deployment" && d.Name == "carina-agent" {
			return &d
		}
	}
	t.Fatal("no Deployment carina-agent")
	return nil
}

// checkPod checks the secure defaults every install has.
func checkPod(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	ps := d.Spec.Template.Spec
	if sc := ps.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot ||
		sc.RunAsUser == nil || *sc.RunAsUser != 65532 || sc.SeccompProfile == nil || sc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("pod security context %+v, want non-root 65532 and seccomp RuntimeDefault", sc)
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(ps.Containers))
	}
	c := ps.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil ||
		*sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container security context %+v, want a read-only root, no privilege escalation, all capabilities dropped", sc)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes %+v %+v, want /healthz and /readyz", c.LivenessProbe, c.ReadinessProbe)
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("resources %+v, want memory requests and limits and a CPU request", c.Resources)
	}
	cache := false
	for _, v := range ps.Volumes {
		cache = cache || (v.Name == "cache" && v.EmptyDir != nil)
	}
	if !cache {
		t.Error("no emptyDir volume cache")
	}
}

// writes reports the rules of a ClusterRole that write something other
// than Events.
func writes(o object) []rbacRule {
	var out []rbacRule
	for _, r := range o.Rules {
		if slices.Equal(r.Resources, []string{"events"}) {
			continue
		}
		if slices.ContainsFunc(r.Verbs, func(v string) bool { return v != "get" && v != "list" && v != "watch" && v != "impersonate" }) {
			out = append(out, r)
		}
	}
	return out
}

func TestKustomizeBuilds(t *testing.T) {
	for _, tc := range []struct {
		dir      string
		replicas int32
		// clusterWrites: a ClusterRole lets the agent write applications.
		clusterWrites bool
	}{
		{"deploy/kustomize/base", 2, true},
		{"deploy/kustomize/overlays/ha", 3, true},
		{"deploy/kustomize/overlays/namespaced-tenants", 2, false},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			out := kustomize(t, tc.dir)
			d := deployment(t, out)
			if got := *d.Spec.Replicas; got != tc.replicas {
				t.Errorf("replicas %d, want %d", got, tc.replicas)
			}
			checkPod(t, d)
			clusterWrites := false
			for _, o := range objects(t, out) {
				if o.Kind != "ClusterRole" {
					continue
				}
				for _, r := range o.Rules {
					if slices.Contains(r.Resources, "*") {
						t.Errorf("ClusterRole %s grants every kind; that is the opt-in deploy/rbac/all-kinds only", o.Metadata.Name)
					}
					if slices.Contains(r.Verbs, "impersonate") && len(r.ResourceNames) == 0 {
						t.Errorf("ClusterRole %s impersonates %v without naming whom", o.Metadata.Name, r.Resources)
					}
				}
				clusterWrites = clusterWrites || len(writes(o)) > 0
			}
			if clusterWrites != tc.clusterWrites {
				t.Errorf("a ClusterRole writes applications: %v, want %v", clusterWrites, tc.clusterWrites)
			}
		})
	}
}
