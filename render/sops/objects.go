package sops

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Field is one value of a rendered object that held a ciphertext and now
// holds plaintext: the object's index in the list and the field's path
// (map keys, and list indexes in decimal).
type Field struct {
	Object int      `json:"object"`
	Path   []string `json:"path"`
}

// cipherRE matches one SOPS ciphertext, also inside a longer string.
var cipherRE = regexp.MustCompile(`ENC\[AES256_GCM,data:[A-Za-z0-9+/=]*,iv:[A-Za-z0-9+/=]*,tag:[A-Za-z0-9+/=]*,type:[a-z]+\]`)

// Objects decrypts, in place, every ciphertext in objs (rendered objects
// as unstructured maps) and drops their "sops" metadata. It finds the
// files of fsys (the snapshot) that hold those ciphertexts, verifies each
// whole with DecryptFile, and substitutes the plaintext: a whole-string
// ciphertext takes the value's type, one inside a longer string its text,
// and one inside a base64 string (a Secret's data, which a template
// encoded) its text, encoded again. Objects without a ciphertext cost one
// walk and no file read.
//
// always are files to verify whole whenever they are SOPS files, even
// when no rendered value comes from them: the application's own file (an
// Appfile with encrypted properties), whose tampering must fail the render
// whatever the templates did with its values. Their values are searched
// first.
//
// On error nothing is changed, and the error is an *Error with the
// file's position (ErrMAC, ErrNoKey) or the object's field
// (ErrUnknownValue).
func (d *Decryptor) Objects(ctx context.Context, fsys fs.FS, objs []map[string]any, always ...string) ([]Field, error) {
	need := map[string]valueRef{}
	for i, o := range objs {
		collect(o, i, nil, need, true)
		if m, ok := o["sops"].(map[string]any); ok {
			if mac, ok := m["mac"].(string); ok {
				need[mac] = valueRef{object: i, path: []string{"sops", "mac"}}
			}
		}
	}
	values, err := d.verify(fsys, always)
	if err != nil {
		return nil, err
	}
	if len(need) == 0 {
		return nil, nil
	}
	if !all(need, values) {
		found, err := d.search(ctx, fsys, need, values)
		if err != nil {
			return nil, err
		}
		maps.Copy(values, found)
	}
	for c, ref := range need {
		if _, ok := values[c]; !ok {
			return nil, &Error{Object: objectRef(objs[ref.object]), Field: strings.Join(ref.path, "."), Err: ErrUnknownValue}
		}
	}
	var fields []Field
	for i, o := range objs {
		delete(o, "sops")
		replace(o, i, nil, values, &fields)
	}
	return fields, nil
}

// valueRef is where a ciphertext was first seen.
type valueRef struct {
	object int
	path   []string
}

// collect records the ciphertexts under v. top skips an object's own sops
// metadata.
func collect(v any, obj int, p []string, need map[string]valueRef, top bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if top && k == "sops" {
				continue
			}
			collect(x, obj, append(slices.Clip(p), k), need, false)
		}
	case []any:
		for i, x := range v {
			collect(x, obj, append(slices.Clip(p), strconv.Itoa(i)), need, false)
		}
	case string:
		if !strings.Contains(v, encPrefix) {
			v = encodedCiphertexts(v)
		}
		for _, c := range cipherRE.FindAllString(v, -1) {
			if _, ok := need[c]; !ok {
				need[c] = valueRef{object: obj, path: p}
			}
		}
	}
}

// replace substitutes the plaintext values under v, recording each field.
func replace(v any, obj int, p []string, values map[string]any, fields *[]Field) {
	set := func(x any, path []string, put func(any)) {
		s, ok := x.(string)
		if ok && !strings.Contains(s, encPrefix) {
			if plain := encodedCiphertexts(s); plain != "" {
				put(base64.StdEncoding.EncodeToString([]byte(substitute(plain, values))))
				*fields = append(*fields, Field{Object: obj, Path: path})
				return
			}
		}
		if !ok || !strings.Contains(s, encPrefix) {
			replace(x, obj, path, values, fields)
			return
		}
		if pv, ok := values[s]; ok {
			put(pv)
		} else {
			put(substitute(s, values))
		}
		*fields = append(*fields, Field{Object: obj, Path: path})
	}
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			set(v[k], append(slices.Clip(p), k), func(x any) { v[k] = x })
		}
	case []any:
		for i := range v {
			set(v[i], append(slices.Clip(p), strconv.Itoa(i)), func(x any) { v[i] = x })
		}
	}
}

// substitute replaces each ciphertext in s by its plaintext's text.
func substitute(s string, values map[string]any) string {
	return cipherRE.ReplaceAllStringFunc(s, func(c string) string { return fmt.Sprint(values[c]) })
}

// encodedPrefixes are the base64 forms of encPrefix at each of the three
// alignments it can have in an encoded string, without the characters
// its neighbours change.
var encodedPrefixes = func() []string {
	var out []string
	for pad := range 3 {
		enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\x00", pad) + encPrefix))
		skip := (pad*8 + 5) / 6 // characters that hold a bit of the padding
		end := len(encPrefix) + pad
		end = end / 3 * 4 // whole groups only
		out = append(out, enc[skip:end])
	}
	return out
}()

// encodedCiphertexts returns the decoded text of s when s is base64 that
// holds a SOPS ciphertext (a template encoded a value for a Secret's
// data), and "" otherwise.
func encodedCiphertexts(s string) string {
	hit := false
	for _, p := range encodedPrefixes {
		hit = hit || strings.Contains(s, p)
	}
	if !hit {
		return ""
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || !bytes.Contains(b, []byte(encPrefix)) {
		return ""
	}
	return string(b)
}

// verify decrypts the files of files that are SOPS files, whole, and
// returns their values.
func (d *Decryptor) verify(fsys fs.FS, files []string) (map[string]any, error) {
	values := map[string]any{}
	for _, name := range files {
		if name == "" {
			continue
		}
		info, err := fs.Stat(fsys, name)
		if err != nil || !info.Mode().IsRegular() || info.Size() > d.opts.MaxFileBytes {
			continue
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil || !IsEncrypted(data) {
			continue
		}
		f, err := d.DecryptFile(name, data)
		if err != nil {
			return nil, err
		}
		maps.Copy(values, f.values)
	}
	return values, nil
}

// search reads the files of fsys that hold a needed ciphertext not in
// found and decrypts them; it stops once every ciphertext is found.
func (d *Decryptor) search(ctx context.Context, fsys fs.FS, need map[string]valueRef, found map[string]any) (map[string]any, error) {
	values := maps.Clone(found)
	var files int
	var total int64
	err := fs.WalkDir(fsys, ".", func(name string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if e.IsDir() {
			if name != "." && strings.HasPrefix(e.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() || !sopsExt(name) {
			return nil
		}
		if files++; files > d.opts.MaxFiles {
			return fmt.Errorf("%w of %d files", ErrLimit, d.opts.MaxFiles)
		}
		info, err := e.Info()
		if err != nil || info.Size() > d.opts.MaxFileBytes {
			return nil
		}
		if total += info.Size(); total > d.opts.MaxTotalBytes {
			return fmt.Errorf("%w of %d bytes", ErrLimit, d.opts.MaxTotalBytes)
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil || !IsEncrypted(data) || !holdsAny(data, need, values) {
			return nil
		}
		f, err := d.DecryptFile(name, data)
		if err != nil {
			return err
		}
		maps.Copy(values, f.values)
		if len(values) >= len(need) && all(need, values) {
			return fs.SkipAll
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return values, nil
}

func sopsExt(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// holdsAny reports whether data holds a needed ciphertext not found yet.
func holdsAny(data []byte, need map[string]valueRef, found map[string]any) bool {
	for c := range need {
		if _, ok := found[c]; !ok && bytes.Contains(data, []byte(c)) {
			return true
		}
	}
	return false
}

func all(need map[string]valueRef, found map[string]any) bool {
	for c := range need {
		if _, ok := found[c]; !ok {
			return false
		}
	}
	return true
}

// objectRef prints Kind/namespace/name of an unstructured object.
func objectRef(o map[string]any) string {
	kind, _ := o["kind"].(string)
	md, _ := o["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	if ns, _ := md["namespace"].(string); ns != "" {
		return kind + "/" + ns + "/" + name
	}
	return kind + "/" + name
}
