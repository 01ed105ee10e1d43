package inventory

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// FuzzFromConfigMap feeds arbitrary objects text and compressed data to
// the decoder: it must never panic, and whatever it accepts must encode
// and decode to the same entries.
func FuzzFromConfigMap(f *testing.F) {
	f.Add("_ConfigMap_ns_a\napps_Deployment_ns_b do\n", []byte(nil))
	f.Add("_Namespace__x n\n", []byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, text string, gz []byte) {
		cm := &corev1.ConfigMap{Data: map[string]string{KeyObjects: text, "app": "a", "env": "e"}}
		if len(gz) > 0 {
			cm.BinaryData = map[string][]byte{KeyObjectsGz: gz}
		}
		inv, err := FromConfigMap(cm, DefaultOptions())
		if err != nil {
			return
		}
		out, err := ToConfigMap(inv, "ns", DefaultOptions())
		if err != nil {
			t.Fatalf("ToConfigMap of a decoded inventory: %v", err)
		}
		again, err := FromConfigMap(out, DefaultOptions())
		if err != nil {
			t.Fatalf("FromConfigMap of an encoded inventory: %v", err)
		}
		if len(again.Entries) != len(inv.Entries) {
			t.Fatalf("round trip: %d entries, then %d", len(inv.Entries), len(again.Entries))
		}
		for i := range inv.Entries {
			if again.Entries[i] != inv.Entries[i] {
				t.Fatalf("round trip entry %d: %+v, then %+v", i, inv.Entries[i], again.Entries[i])
			}
		}
	})
}
