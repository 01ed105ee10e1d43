package inventory

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestKeyRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		id   ID
		key  string
		ref  string
	}{
		{"core namespaced", ID{Kind: "ConfigMap", Namespace: "shop", Name: "web"}, "_ConfigMap_shop_web", "ConfigMap/shop/web"},
		{"group namespaced", ID{Group: "apps", Kind: "Deployment", Namespace: "shop", Name: "web"}, "apps_Deployment_shop_web", "Deployment/shop/web"},
		{"cluster scoped", ID{Kind: "Namespace", Name: "shop"}, "_Namespace__shop", "Namespace/shop"},
		{"custom group", ID{Group: "example.com", Kind: "Widget", Namespace: "a", Name: "w"}, "example.com_Widget_a_w", "Widget.example.com/a/w"},
		{"underscore and colon in name", ID{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:a_b"}, "rbac.authorization.k8s.io_ClusterRole__system:a_b", "ClusterRole/system:a_b"},
		{"space in name", ID{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "a b\tc"}, "rbac.authorization.k8s.io_ClusterRole__a%20b%09c", "ClusterRole/a b\tc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.key, tt.id.Key()); diff != "" {
				t.Errorf("Key (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.ref, tt.id.String()); diff != "" {
				t.Errorf("String (-want +got):\n%s", diff)
			}
			got, err := ParseKey(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.id, got); diff != "" {
				t.Errorf("ParseKey (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseKeyErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ConfigMap", "want group_Kind_namespace_name"},
		{"__ns_", "kind and name must not be empty"},
		{"_ConfigMap_ns_a%2", "truncated escape"},
		{"_ConfigMap_ns_a%zz", `bad escape "%zz"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseKey(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseKey(%q) = %v, want error containing %q", tt.in, err, tt.want)
			}
		})
	}
}

func sample(n int) *Inventory {
	inv := &Inventory{
		App: "shop", Env: "prod", Revision: "0123456789abcdef0123456789abcdef01234567",
		Digest: "sha256:" + strings.Repeat("ab", 32), Result: ResultSuccess, Health: "Current",
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Extra: map[string]string{"workflow.step": "deploy-prod"},
	}
	kinds := []ID{{Kind: "ConfigMap"}, {Group: "apps", Kind: "Deployment"}, {Kind: "Service"}}
	for i := range n {
		id := kinds[i%3]
		id.Namespace = "shop-production"
		id.Name = fmt.Sprintf("checkout-service-component-%05d", i)
		e := Entry{ID: id}
		if i%7 == 0 {
			e.Prune = PruneOnAppDelete
		}
		if i%11 == 0 {
			e.Orphan = true
		}
		inv.Entries = append(inv.Entries, e)
	}
	inv.Normalize()
	return inv
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		inv  *Inventory
	}{
		{"small", sample(4)},
		{"flags", &Inventory{App: "a", Env: "e", Result: ResultFailed, Message: "Deployment/ns/web apply failed: boom", Entries: []Entry{
			{ID: ID{Kind: "Namespace", Name: "ns"}, Prune: PruneNever},
			{ID: ID{Kind: "ConfigMap", Namespace: "ns", Name: "shared"}, Shared: true},
			{ID: ID{Group: "apps", Kind: "Deployment", Namespace: "ns", Name: "web"}, Prune: PruneOnAppDelete, Orphan: true},
		}}},
		{"empty", &Inventory{App: "a", Env: "e", Result: ResultSuccess}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm, err := ToConfigMap(tt.inv, "carina-system", DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			got, err := yaml.Marshal(cm)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", tt.name+".yaml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("golden %s (-want +got):\n%s", path, diff)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 3, 10000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			inv := sample(n)
			cm, err := ToConfigMap(inv, "carina-system", DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			_, gz := cm.BinaryData[KeyObjectsGz]
			if want := n > 300; gz != want {
				t.Errorf("compressed = %v, want %v", gz, want)
			}
			got, err := FromConfigMap(cm, DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				inv.Entries = nil
			}
			if !slices.Equal(inv.Entries, got.Entries) {
				t.Fatal("entries differ after a round trip")
			}
			inv.Entries, got.Entries = nil, nil
			if diff := cmp.Diff(inv, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTenThousandFits proves 10,000 objects with long names encode far
// below the 1 MiB ConfigMap limit (the cluster test stores it for real).
func TestTenThousandFits(t *testing.T) {
	inv := sample(10000)
	for i := range inv.Entries {
		inv.Entries[i].ID.Name += "-" + strings.Repeat("x", 100)
	}
	cm, err := ToConfigMap(inv, "carina-system", DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if n := size(cm); n > 1<<20 {
		t.Fatalf("10,000 objects encode to %d bytes, over 1 MiB", n)
	}
	t.Logf("10,000 objects with 135-byte names: %d bytes", size(cm))
}

func TestLimits(t *testing.T) {
	opts := DefaultOptions()
	opts.MaxEntries = 5
	if _, err := ToConfigMap(sample(6), "ns", opts); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ToConfigMap with 6 > 5 entries: %v, want ErrTooLarge", err)
	}
	cm, err := ToConfigMap(sample(6), "ns", DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FromConfigMap(cm, opts); !errors.Is(err, ErrTooLarge) {
		t.Errorf("FromConfigMap with 6 > 5 entries: %v, want ErrTooLarge", err)
	}
	opts = DefaultOptions()
	opts.MaxBytes = 100
	if _, err := ToConfigMap(sample(6), "ns", opts); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ToConfigMap over MaxBytes: %v, want ErrTooLarge", err)
	}
	// A gzip bomb: 1 MiB of newlines in a few KiB, where 1,000 entries
	// may take 512 KiB.
	bomb, err := compress(strings.Repeat("\n", 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	cm = &corev1.ConfigMap{BinaryData: map[string][]byte{KeyObjectsGz: bomb}}
	opts = DefaultOptions()
	opts.MaxEntries = 1000
	if _, err := FromConfigMap(cm, opts); !errors.Is(err, ErrTooLarge) {
		t.Errorf("FromConfigMap of a gzip bomb: %v, want ErrTooLarge", err)
	}
	if _, err := ToConfigMap(&Inventory{Extra: map[string]string{"a/b": ""}}, "ns", DefaultOptions()); err == nil {
		t.Error("ToConfigMap accepted extra key a/b")
	}
}

func TestName(t *testing.T) {
	tests := []struct{ app, env, want string }{
		{"shop", "prod", "carina-inv.shop.prod"},
		{"Shop", "prod", "carina-inv.2769d08dc55daf7b7b7b"},
		{"a.b", "c", "carina-inv.8b745bb4ec41bcac3a1a"},
	}
	for _, tt := range tests {
		if got := Name(tt.app, tt.env); got != tt.want {
			t.Errorf("Name(%q, %q) = %q, want %q", tt.app, tt.env, got, tt.want)
		}
	}
	if Name("a.b", "c") == Name("a", "b.c") {
		t.Error("Name(a.b, c) == Name(a, b.c)")
	}
}
