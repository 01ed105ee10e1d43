package apply

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ErrWithheld: an object whose Secret values were withheld (see
// Set.WithoutSecretValues) was given to a write. Nothing of it was
// written; render the set again to write it.
var ErrWithheld = errors.New("its values were withheld after the apply; render it again to write it")

// IsSecret reports whether obj is a core Secret, whose data and
// stringData values are never kept after an apply.
func IsSecret(obj *unstructured.Unstructured) bool {
	gvk := obj.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Secret"
}

// WithoutSecretValues returns a copy of s for keeping after an apply:
// every Secret is a deep copy without its data and stringData, marked
// Withheld, so that no Secret value (a decrypted one above all) stays in
// memory with the set. The other objects are shared with s. Such a set
// can be read (health, drift confirmations of the other fields), but an
// Apply or Correct refuses its withheld objects (ErrWithheld).
func (s *Set) WithoutSecretValues() *Set {
	out := *s
	out.Objects = make([]Object, len(s.Objects))
	for i, o := range s.Objects {
		if o.Obj != nil && IsSecret(o.Obj) && !o.Withheld {
			c := o.Obj.DeepCopy()
			delete(c.Object, "data")
			delete(c.Object, "stringData")
			o.Obj, o.Withheld = c, true
		}
		out.Objects[i] = o
	}
	return &out
}

// Withheld reports whether any object of s is withheld.
func (s *Set) Withheld() bool {
	for _, o := range s.Objects {
		if o.Withheld {
			return true
		}
	}
	return false
}

// withheldError is the error of a write of a withheld object.
func withheldError(id ID) error { return fmt.Errorf("%s: %w", id, ErrWithheld) }
