package drift

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/carina-gitops/carina/apply"
)

// sealed is what a Watcher keeps of a Secret's values: an HMAC of each
// key's bytes, with a key made at random for the Watcher, so that the
// drift state holds no Secret value (a decrypted one above all) and a
// short value cannot be found again from its hash by trying candidates
// without that key. The Secret's other fields are kept as they are (its
// shape, an object without data and stringData).
type sealed struct {
	macs map[string][]byte // data key → HMAC of its bytes
	// keys are every key the desired Secret sets, ignored ones too;
	// inString those it sets in stringData.
	keys     []string
	inString map[string]bool
}

// newMACKey returns a random HMAC key.
func newMACKey() []byte {
	k := make([]byte, 32)
	rand.Read(k) // never fails (crypto/rand)
	return k
}

// seal splits a desired Secret into its shape (a copy without data and
// stringData, for the other fields) and the HMACs of its values, as the
// server will hold them: stringData wins over data for the same key.
// Keys the drift policy ignores (ignoreFields or apply-once paths data,
// stringData, data.KEY, stringData.KEY) are left out.
func seal(key []byte, o *apply.Object) (*apply.Object, *sealed) {
	shape := *o
	shape.Obj = o.Obj.DeepCopy()
	delete(shape.Obj.Object, "data")
	delete(shape.Obj.Object, "stringData")
	s := &sealed{macs: map[string][]byte{}, inString: map[string]bool{}}
	ignored := secretIgnored(o)
	data, _ := o.Obj.Object["data"].(map[string]any)
	strs, _ := o.Obj.Object["stringData"].(map[string]any)
	s.keys = slices.Sorted(maps.Keys(data))
	for k := range strs {
		s.inString[k] = true
		if _, dup := data[k]; !dup {
			s.keys = append(s.keys, k)
		}
	}
	slices.Sort(s.keys)
	for k, v := range data {
		if ignored(k) {
			continue
		}
		str, _ := v.(string)
		b, err := base64.StdEncoding.DecodeString(str)
		if err != nil {
			b = []byte("\x00invalid base64\x00" + str) // the apply refused it; never equal to a live value
		}
		s.macs[k] = mac(key, b)
	}
	for k, v := range strs {
		if ignored(k) {
			continue
		}
		str, _ := v.(string)
		s.macs[k] = mac(key, []byte(str))
	}
	return &shape, s
}

// secretIgnored says which data keys of o the drift policy leaves out.
func secretIgnored(o *apply.Object) func(string) bool {
	paths := append(slices.Clone(o.Policies.Drift.IgnoreFields), o.Policies.ApplyOnce.Paths...)
	return func(k string) bool {
		for _, p := range paths {
			switch p {
			case "data", "stringData", "data." + k, "stringData." + k:
				return true
			}
		}
		return false
	}
}

func mac(key, b []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(b)
	return h.Sum(nil)
}

// differing returns the sorted keys whose value in live differs from the
// desired one (missing keys included). Keys only live has are another
// writer's, as any field Carina does not set.
func (s *sealed) differing(key []byte, live *unstructured.Unstructured) []string {
	data, _ := live.Object["data"].(map[string]any)
	var out []string
	for k, want := range s.macs {
		str, ok := data[k].(string)
		b, err := base64.StdEncoding.DecodeString(str)
		if !ok || err != nil || !hmac.Equal(mac(key, b), want) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// withLive returns the shape with live's values of the desired keys, as
// data: what confirms the Secret's other fields with the apply engine
// (provably unchanged, or a dry-run) once its values compared equal by
// hash. It is built for one comparison and dropped.
func (s *sealed) withLive(shape *apply.Object, live *unstructured.Unstructured) apply.Object {
	o := *shape
	o.Obj = shape.Obj.DeepCopy()
	data, _ := live.Object["data"].(map[string]any)
	d := make(map[string]any, len(s.keys))
	for _, k := range s.keys {
		if v, ok := data[k]; ok {
			d[k] = v
		}
	}
	if len(d) > 0 {
		o.Obj.Object["data"] = d
	}
	return o
}

// localPair returns the desired Secret and the live one as the local
// check (Comparer.Unchanged) can prove them unchanged once the values
// compared equal by hash: the shape with live's values in data, and the
// keys the desired Secret sets in stringData (which the server keeps in
// data, while Carina's managed fields name stringData) set to the same
// placeholder on both sides. live itself is not changed.
func (s *sealed) localPair(shape *apply.Object, live *unstructured.Unstructured) (apply.Object, *unstructured.Unstructured) {
	o := s.withLive(shape, live)
	if len(s.inString) == 0 {
		return o, live
	}
	data, _ := o.Obj.Object["data"].(map[string]any)
	strs := map[string]any{}
	for k := range s.inString {
		delete(data, k)
		strs[k] = ""
	}
	if len(data) == 0 {
		delete(o.Obj.Object, "data")
	}
	o.Obj.Object["stringData"] = strs
	l := &unstructured.Unstructured{Object: maps.Clone(live.Object)}
	l.Object["stringData"] = strs
	return o, l
}
