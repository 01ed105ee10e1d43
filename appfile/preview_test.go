package appfile

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAppPreview(t *testing.T) {
	big := Policy{Name: "big", Type: OverridePolicy, Properties: map[string]any{"components": []any{}}}
	pv := func(props map[string]any) Policy {
		return Policy{Name: "previews", Type: PreviewPolicy, Properties: props, Pos: Position{File: "shop/Appfile", Line: 7}}
	}
	tests := []struct {
		name    string
		app     Application
		wantNS  string
		wantErr string
		check   func(t *testing.T, p *Preview)
	}{{
		name:   "defaults",
		app:    Application{Name: "shop", Policies: []Policy{pv(nil)}},
		wantNS: "shop-pr-42",
		check: func(t *testing.T, p *Preview) {
			if p.MaxPreviews != 5 || p.AllowForks || p.ClusterRole != "edit" || p.TTL != 0 {
				t.Errorf("defaults = %+v", p)
			}
		},
	}, {
		name: "every property",
		app: Application{Name: "shop", Policies: []Policy{big, pv(map[string]any{
			"clusters": []any{"eu"}, "namespace": "pr-{{.Number}}-{{.App}}", "branches": []any{"main"}, "labels": []any{"preview"},
			"titlePattern": "^feat", "maxPreviews": 2, "ttl": "72h", "serviceAccount": "previewer", "requireLabel": "safe",
			"allowForks": true, "overrides": []any{"big"}})}},
		wantNS: "pr-42-shop",
		check: func(t *testing.T, p *Preview) {
			if p.MaxPreviews != 2 || !p.AllowForks || p.TTL != 72*time.Hour || p.ServiceAccount != "previewer" ||
				p.RequireLabel != "safe" || !p.TitlePattern.MatchString("feat: x") {
				t.Errorf("parsed = %+v", p)
			}
			env, err := p.Env(&Application{Name: "shop", Policies: []Policy{big}}, 42, "local")
			if err != nil {
				t.Fatal(err)
			}
			want := Environment{Name: "pr-42", Clusters: []string{"eu"}, Namespace: "pr-42-shop", ServiceAccount: "previewer",
				Overrides: []Policy{big}, Policies: []Policy{big}}
			if d := cmp.Diff(want, env); d != "" {
				t.Errorf("env (-want +got):\n%s", d)
			}
		},
	}, {
		name:    "a template field that is not App or Number",
		app:     Application{Name: "shop", Policies: []Policy{pv(map[string]any{"namespace": "{{.Branch}}"})}},
		wantErr: `shop/Appfile:7: policy "previews": namespace template "{{.Branch}}": only {{.App}} and {{.Number}} are known`,
	}, {
		name:    "a namespace that is no DNS label",
		app:     Application{Name: "shop", Policies: []Policy{pv(map[string]any{"namespace": "{{.App}}_pr_{{.Number}}"})}},
		wantErr: `gives "shop_pr_1", which is not a DNS-1123 label`,
	}, {
		name:    "an override that is no override policy",
		app:     Application{Name: "shop", Policies: []Policy{pv(map[string]any{"overrides": []any{"nope"}})}},
		wantErr: `overrides names "nope", which is no override policy`,
	}, {
		name:    "bad maxPreviews and ttl",
		app:     Application{Name: "shop", Policies: []Policy{pv(map[string]any{"maxPreviews": 0, "ttl": "soon"})}},
		wantErr: "maxPreviews must be a whole number of at least 1",
	}, {
		name:    "an unknown property",
		app:     Application{Name: "shop", Policies: []Policy{pv(map[string]any{"cluster": "eu"})}},
		wantErr: `unknown property "cluster"`,
	}, {
		name:    "a topology policy named like a preview",
		app:     Application{Name: "shop", Policies: []Policy{{Name: "pr-3", Type: TopologyPolicy}}},
		wantErr: "the names pr-<number> are kept for preview environments",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := AppPreview(&tt.app)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ns, err := p.NamespaceFor(tt.app.Name, 42)
			if err != nil || ns != tt.wantNS {
				t.Errorf("NamespaceFor = %q, %v; want %q", ns, err, tt.wantNS)
			}
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

func TestPreviewNumber(t *testing.T) {
	for env, want := range map[string]int{"pr-1": 1, "pr-42": 42, "pr-0": 0, "pr-": 0, "prod": 0, "pr-4a": 0} {
		n, ok := PreviewNumber(env)
		if n != want || ok != (want > 0) {
			t.Errorf("PreviewNumber(%q) = %d, %v", env, n, ok)
		}
	}
}
