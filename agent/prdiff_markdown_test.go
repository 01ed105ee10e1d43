package agent

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/carina-gitops/carina/apply/diff"
)

func cmObj(ns, name string, data map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": name, "namespace": ns}, "data": data}}
}

func secretObj(ns, name string, data map[string]any) *unstructured.Unstructured {
	u := cmObj(ns, name, data)
	u.SetKind("Secret")
	return u
}

// TestDiffCommentMarkdown: the comment's text from computed diffs, as
// pure data: counts per environment, objects by name, a Secret's changed
// keys without its values, notes, errors, and the stamp on the first
// line.
func TestDiffCommentMarkdown(t *testing.T) {
	changed := diff.Compute("ConfigMap/shop-staging/web", cmObj("shop-staging", "web", map[string]any{"greeting": "hello"}),
		cmObj("shop-staging", "web", map[string]any{"greeting": "hi"}))
	created := diff.Compute("ConfigMap/shop-staging/new", nil, cmObj("shop-staging", "new", map[string]any{"a": "b"}))
	secret := diff.Compute("Secret/shop-staging/db", secretObj("shop-staging", "db", map[string]any{"password": "b2xkLXNlY3JldA==", "user": "YWRtaW4="}),
		secretObj("shop-staging", "db", map[string]any{"password": "bmV3LXNlY3JldA==", "user": "YWRtaW4=", "token": "dG9rZW4="}))
	deleted := diff.Compute("ConfigMap/shop-pr-4/old", cmObj("shop-pr-4", "old", map[string]any{"x": "y"}), nil)
	d := prDiff{number: 4, head: "0123456789abcdef0123456789abcdef01234567", branch: "feature", base: "main",
		baseCommit: "89abcdef0123456789abcdef0123456789abcdef", apps: []appDiff{
			{name: "shop", envs: []envDiff{
				{env: "staging", clusters: []clusterDiff{{name: "local", objects: []diff.Object{changed, created, secret}, unchanged: 2}}},
				{env: "prod", note: "Pinned to `89abcdef0123`; this pull request does not move the pin, so merging it changes nothing here."},
				{env: "qa", clusters: []clusterDiff{{name: "local", unchanged: 3}}},
				{env: "pr-4", preview: true, clusters: []clusterDiff{{name: "local", objects: []diff.Object{deleted}}}},
			}},
			{name: "broken", err: "it does not load at the head: broken/Appfile:3:1: unknown field"},
		}}
	md := d.markdown("feedface")
	first, _, _ := strings.Cut(md, "\n")
	if first != stampLine("feedface") {
		t.Errorf("first line %q, want the stamp", first)
	}
	for _, want := range []string{
		"### Carina: what merging #4 would change",
		"The head `0123456789ab` (`feature`)",
		"#### `shop` · `staging`: 1 created, 2 changed, 0 deleted",
		"- changed `ConfigMap/shop-staging/web`\n- created `ConfigMap/shop-staging/new`\n- changed `Secret/shop-staging/db` (keys: `password`, `token`)\n",
		"<details><summary>Diff of staging</summary>",
		"```diff\n--- live/ConfigMap/shop-staging/web\n+++ desired/ConfigMap/shop-staging/web\n",
		"-  greeting: hello\n+  greeting: hi\n",
		"#### `shop` · `prod`\n\nPinned to `89abcdef0123`",
		"#### `shop` · `qa`: no change\n",
		"#### `shop` · `pr-4` (this pull request's preview): 0 created, 0 changed, 1 deleted",
		"- deleted `ConfigMap/shop-pr-4/old`",
		"#### `broken`: cannot be compared\n\n```text\nit does not load at the head: broken/Appfile:3:1: unknown field\n```",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the comment lacks %q:\n%s", want, md)
		}
	}
	for _, secretValue := range []string{"b2xkLXNlY3JldA==", "bmV3LXNlY3JldA==", "dG9rZW4=", "old-secret", "new-secret"} {
		if strings.Contains(md, secretValue) {
			t.Errorf("the comment shows a Secret value %q:\n%s", secretValue, md)
		}
	}
}

// TestDiffCommentBounds: a diff larger than its share is cut on a line
// with a note, the list of objects is cut, and text from the pull
// request cannot close a code block.
func TestDiffCommentBounds(t *testing.T) {
	var objs []diff.Object
	for i := range 200 {
		name := strings.Repeat("x", 10) + string(rune('a'+i%26)) + strings.Repeat("y", i%7)
		objs = append(objs, diff.Compute("ConfigMap/ns/"+name, nil, cmObj("ns", name, map[string]any{"v": strings.Repeat("z", 400)})))
	}
	d := prDiff{number: 1, head: "h", base: "main", apps: []appDiff{{name: "big", envs: []envDiff{
		{env: "staging", clusters: []clusterDiff{{name: "local", objects: objs}}},
		{env: "evil", err: "``` \n</details><img src=x>\n````"},
	}}}}
	md := d.markdown("s")
	if len(md) > maxCommentDiff+20000 {
		t.Errorf("comment of %d bytes; want it bounded", len(md))
	}
	if !strings.Contains(md, "- … and 170 more\n") {
		t.Error("the list of objects is not cut at 30")
	}
	if !strings.Contains(md, "more lines not shown: the comment is size-capped") {
		t.Error("the cut diff does not say so")
	}
	if !strings.Contains(md, "`````text\n``` \n</details><img src=x>\n````\n`````\n") {
		t.Errorf("the error is not fenced by a longer fence:\n%s", md[strings.Index(md, "evil"):])
	}
}

func TestSecretKeys(t *testing.T) {
	o := diff.Object{Ref: "Secret/ns/s", Changes: []diff.Change{{Path: "data.b"}, {Path: `data["a.b"]`}, {Path: "stringData.c"},
		{Path: "metadata.labels.x"}, {Path: "data.b"}}}
	if d := cmp.Diff(" (keys: `a.b`, `b`, `c`)", secretKeys(o)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if got := secretKeys(diff.Object{Ref: "ConfigMap/ns/s", Changes: o.Changes}); got != "" {
		t.Errorf("a ConfigMap's keys are named: %q", got)
	}
}
