package sops_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/carina-gitops/carina/apply/diff"
	"github.com/carina-gitops/carina/render/sops"
)

// The canary of a decrypted Secret, and of a decrypted value in a
// ConfigMap once masked, never reaches the diff `carina diff` prints.
func TestCanaryNotInDiff(t *testing.T) {
	k, enc := fixture(t, "secret.yaml", secretYAML)
	secret := rendered(t, enc)
	cm := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "app", "namespace": "shop-prod"},
		"data": map[string]any{"dsn": secret["stringData"].(map[string]any)["password"]}}
	objs := []map[string]any{secret, cm}
	fields, err := decryptor(t, k).Objects(t.Context(), fstest.MapFS{"secret.yaml": {Data: enc}}, objs)
	if err != nil {
		t.Fatal(err)
	}
	// What the API server would hold after the apply: data, base64.
	live := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "db", "namespace": "shop-prod"},
		"data":     map[string]any{"password": base64.StdEncoding.EncodeToString([]byte("old-value")), "port": "NTQzMg=="}}}
	merged := live.DeepCopy()
	merged.Object["data"].(map[string]any)["password"] = base64.StdEncoding.EncodeToString([]byte(canary))

	m := sops.NewMasker(fields)
	out := []diff.Object{
		diff.Compute("Secret/shop-prod/db", live, merged),
		diff.Compute("ConfigMap/shop-prod/app", nil, &unstructured.Unstructured{Object: m.Object(1, cm)}),
	}
	var buf bytes.Buffer
	if err := diff.WriteUnified(&buf, out); err != nil {
		t.Fatal(err)
	}
	if err := diff.WriteJSON(&buf, out); err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString([]byte(canary))
	if s := buf.String(); strings.Contains(s, canary) || strings.Contains(s, b64) {
		t.Fatalf("diff holds the canary:\n%s", s)
	}
	if !strings.Contains(buf.String(), diff.MaskAfter) || !strings.Contains(buf.String(), sops.Mask) {
		t.Fatalf("diff shows no mask:\n%s", buf.String())
	}
	// The unmasked ConfigMap would have shown it: the masker is what keeps it out.
	raw, _ := json.Marshal(diff.Compute("ConfigMap/shop-prod/app", nil, &unstructured.Unstructured{Object: cm}).After)
	if !bytes.Contains(raw, []byte(canary)) {
		t.Fatal("test is vacuous: the unmasked ConfigMap has no canary")
	}
}
