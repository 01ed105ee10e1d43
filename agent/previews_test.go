package agent

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/render"
	"github.com/carina-gitops/carina/source"
	"github.com/carina-gitops/carina/source/forge"
	"github.com/carina-gitops/carina/source/pin"
)

// TestPreviewAllowed is the security filter of previews as a pure
// function: a fork gets no preview unless it carries requireLabel or the
// policy allows forks. (Gitea cannot easily make a fork in the e2e
// tests, so the fork rule is tested here.)
func TestPreviewAllowed(t *testing.T) {
	same := forge.PullRequest{Number: 1, BaseBranch: "main", Title: "feat: x"}
	fork := forge.PullRequest{Number: 2, BaseBranch: "main", Fork: true, Title: "feat: y"}
	labelled := fork
	labelled.Labels = []string{"safe-to-preview"}
	tests := []struct {
		name    string
		pol     appfile.Preview
		pr      forge.PullRequest
		want    bool
		wantWhy string
	}{
		{"same repository, default branch", appfile.Preview{}, same, true, ""},
		{"another target branch", appfile.Preview{}, forge.PullRequest{BaseBranch: "dev"}, false, "targets branch dev, not main"},
		{"listed target branch", appfile.Preview{Branches: []string{"dev"}}, forge.PullRequest{BaseBranch: "dev"}, true, ""},
		{"fork by default", appfile.Preview{}, fork, false, "comes from a fork (the policy does not allow forks)"},
		{"fork without the required label", appfile.Preview{RequireLabel: "safe-to-preview"}, fork, false, "comes from a fork and has no label safe-to-preview"},
		{"fork with the required label", appfile.Preview{RequireLabel: "safe-to-preview"}, labelled, true, ""},
		{"fork allowed", appfile.Preview{AllowForks: true}, fork, true, ""},
		{"labels: none of them", appfile.Preview{Labels: []string{"preview"}}, same, false, "has none of the labels preview"},
		{"title pattern", appfile.Preview{TitlePattern: regexp.MustCompile(`^fix`)}, same, false, "has a title that does not match ^fix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := previewAllowed(&tt.pol, tt.pr, "main")
			if got != tt.want || why != tt.wantWhy {
				t.Errorf("previewAllowed = %v, %q; want %v, %q", got, why, tt.want, tt.wantWhy)
			}
		})
	}
}

// TestPromotionPRGetsNoPreview: the agent's own promotion pull requests
// (branch carina/promote/<app>-<env> in the repository) pass the preview
// policy, so they keep the diff comment, but get no preview environment:
// they change only a pin. The same branch name from a fork is no
// promotion of this agent's.
func TestPromotionPRGetsNoPreview(t *testing.T) {
	promotion := forge.PullRequest{Number: 7, BaseBranch: "main", HeadBranch: pin.Branch("shop", "prod"), Title: "Promote shop to prod at 0123456789ab"}
	if ok, why := previewAllowed(&appfile.Preview{}, promotion, "main"); !ok {
		t.Fatalf("a promotion pull request is not admitted (no diff comment): %s", why)
	}
	tests := []struct {
		name string
		pr   forge.PullRequest
		want string
	}{
		{"promotion", promotion, "a promotion pull request (branch carina/promote/shop-prod) changes only a pin"},
		{"feature branch", forge.PullRequest{Number: 8, BaseBranch: "main", HeadBranch: "feature/x"}, ""},
		{"a branch that only starts like one", forge.PullRequest{Number: 9, BaseBranch: "main", HeadBranch: "carina/promotion"}, ""},
		{"the same name from a fork", forge.PullRequest{Number: 10, BaseBranch: "main", HeadBranch: pin.Branch("shop", "prod"), Fork: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := noPreview(tt.pr); got != tt.want {
				t.Errorf("noPreview = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestConfinePreview(t *testing.T) {
	obj := func(kind, ns, name string) apply.Object {
		u := &unstructured.Unstructured{}
		u.SetKind(kind)
		u.SetNamespace(ns)
		u.SetName(name)
		return apply.Object{Obj: u}
	}
	env := appfile.Environment{Name: "pr-4", Namespace: "shop-pr-4"}
	ok := &apply.Set{Objects: []apply.Object{obj("ConfigMap", "shop-pr-4", "a")}}
	if err := confinePreview(env, ok); err != nil {
		t.Errorf("own namespace: %v", err)
	}
	bad := &apply.Set{Objects: []apply.Object{obj("ConfigMap", "shop-pr-4", "a"), obj("ConfigMap", "kube-system", "b"), obj("ClusterRoleBinding", "", "c")}}
	err := confinePreview(env, bad)
	want := "preview pr-4 writes only into namespace shop-pr-4; refused: ConfigMap/kube-system/b is in another namespace; ClusterRoleBinding/c is cluster-scoped"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
	if err := confinePreview(appfile.Environment{Name: "prod", Namespace: "x"}, bad); err != nil {
		t.Errorf("a non-preview env is not confined: %v", err)
	}
	if got := statusContext("pr-4"); got != "carina/preview" || !strings.HasPrefix(statusContext("prod"), "carina/prod") {
		t.Errorf("statusContext = %q", got)
	}
}

// TestPreviewViewPullRequest: a preview's view renders with its pull
// request as context.pullRequest (the fetched head), and what the
// definitions see of it is part of its inputs, so that a new label
// renders again.
func TestPreviewViewPullRequest(t *testing.T) {
	const head = "0123456789abcdef0123456789abcdef01234567"
	at := &desiredApp{Name: "shop", App: &appfile.Application{Name: "shop"}, Snapshot: &source.Snapshot{Commit: head}}
	base := &desiredApp{Name: "shop", Source: "apps", Repo: "repo"}
	env := appfile.Environment{Name: "pr-4", Namespace: "shop-pr-4"}
	pr := forge.PullRequest{Number: 4, HeadBranch: "feature", HeadSHA: "listed", BaseBranch: "main", Author: "ann", Labels: []string{"a"}}
	v := buildView(base, at, env, pr)
	want := &render.PullRequest{Number: 4, Branch: "feature", Base: "main", HeadSHA: head, Author: "ann", Labels: []string{"a"}}
	if d := cmp.Diff(want, v.PullRequest); d != "" {
		t.Errorf("context.pullRequest (-want +got):\n%s", d)
	}
	if renderOptions(render.Options{}, v, env, kubeVersion{}).PullRequest != v.PullRequest {
		t.Error("the view's render options lack its pull request")
	}
	if renderOptions(render.Options{}, base, env, kubeVersion{}).PullRequest != nil {
		t.Error("an app that is no preview renders with a pull request")
	}
	labelled := pr
	labelled.Labels = []string{"a", "b"}
	if buildView(base, at, env, labelled).Inputs["pr-4"] == v.Inputs["pr-4"] {
		t.Error("a new label leaves the preview's inputs as they were")
	}
	if samePR(pr, labelled) || !samePR(pr, pr) {
		t.Error("samePR does not compare labels")
	}
}
