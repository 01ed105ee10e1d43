package render

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/carina-gitops/carina/apply/inventory"
	"github.com/carina-gitops/carina/render/sops"
)

// Decryption makes a render decrypt SOPS values after rendering, in
// memory, with one source's age keys (DESIGN.md: "SOPS-encrypted values
// are decrypted in the worker after rendering"). Templates only ever see
// ciphertext.
type Decryption struct {
	// Keys are the source's age identities.
	Keys *sops.Keys `json:"keys"`
	// Limits bound the search of the snapshot for the encrypted files.
	Limits sops.Options `json:"limits"`
}

// Decrypt replaces the SOPS ciphertexts of res's objects with their
// plaintext, verifying each file they come from in fsys (the snapshot),
// and records the decrypted fields in res.Decrypted for masking (see
// sops.NewMasker; the Field.Object index is the index in res.Objects).
// The application's own file (res.File) is verified whole when it is a
// SOPS file, whether or not a value of it was rendered: encrypted
// properties of an Appfile stay ciphertext through the templates and are
// decrypted here, where they land in the objects (also inside a string,
// or base64-encoded by a template).
// res.Digest stays the digest of the encrypted render, so it never
// depends on a plaintext. On error res is unchanged and the error names
// the file and line (a MAC mismatch, a file no key opens) or the object
// and field.
//
// Isolated does this in the worker when Options.Decryption is set; an
// in-process caller of Render calls Decrypt itself.
func Decrypt(ctx context.Context, res *Result, fsys fs.FS, d *Decryption) error {
	if d == nil {
		return nil
	}
	objs := make([]map[string]any, len(res.Objects))
	for i, o := range res.Objects {
		objs[i] = o.Object.Object
	}
	fields, err := sops.New(d.Keys, d.Limits).Objects(ctx, fsys, objs, res.File)
	if err != nil {
		return fmt.Errorf("decryption of application %s (env %s): %w", res.App, res.Env, err)
	}
	res.Decrypted = fields
	return nil
}

// DecryptedFields returns the fields of r that hold values decrypted from
// SOPS files, by object (inventory.ID's String: Kind/namespace/name), and
// those values, for masking them in a diff or an error.
func (r *Result) DecryptedFields() (map[string][][]string, []string) {
	if len(r.Decrypted) == 0 {
		return nil, nil
	}
	out := map[string][][]string{}
	objs := make([]map[string]any, len(r.Objects))
	for i, o := range r.Objects {
		objs[i] = o.Object.Object
	}
	for _, f := range r.Decrypted {
		if f.Object >= 0 && f.Object < len(r.Objects) {
			ref := inventory.IDOf(r.Objects[f.Object].Object).String()
			out[ref] = append(out[ref], f.Path)
		}
	}
	return out, sops.NewMasker(r.Decrypted).Plaintexts(objs)
}
