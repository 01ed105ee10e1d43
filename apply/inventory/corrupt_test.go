package inventory

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestCorruptIsTyped: every ConfigMap that does not decode is an
// ErrCorrupt naming the ConfigMap and how to recover, never "no
// inventory".
func TestCorruptIsTyped(t *testing.T) {
	meta := metav1.ObjectMeta{Namespace: "carina-system", Name: "carina-inv.shop.prod"}
	tests := []struct {
		name    string
		cm      *corev1.ConfigMap
		tooBig  bool
		message string
	}{
		{"bad time", &corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"app": "shop", "env": "prod", "time": "yesterday"}}, false, "time:"},
		{"bad entry", &corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{KeyObjects: "not-a-key\n"}}, false, "not-a-key"},
		{"bad gzip", &corev1.ConfigMap{ObjectMeta: meta, BinaryData: map[string][]byte{KeyObjectsGz: []byte("plain text")}}, false, KeyObjectsGz},
		{"over the bound", &corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{KeyObjects: strings.Repeat("x", 2_000_000)}}, true, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := FromConfigMap(tt.cm, DefaultOptions())
			if inv != nil || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("FromConfigMap = %v, %v; want nil, ErrCorrupt", inv, err)
			}
			if errors.Is(err, ErrTooLarge) != tt.tooBig {
				t.Errorf("errors.Is(err, ErrTooLarge) = %v, want %v", !tt.tooBig, tt.tooBig)
			}
			for _, want := range []string{"ConfigMap/carina-system/carina-inv.shop.prod: inventory corrupt", tt.message, "--rebuild-inventory"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}
