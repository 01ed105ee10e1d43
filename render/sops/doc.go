// Package sops decrypts SOPS-encrypted values (YAML or JSON files
// encrypted with age keys) in memory, and keeps the plaintext out of
// everything but the objects that are applied.
//
// Its one concern is SOPS: parsing age keys, verifying and decrypting the
// files of a snapshot, substituting the plaintext into rendered objects,
// and the helpers that keep plaintext out of logs, errors, diffs and
// inventories (Masker, Redact, HashData).
//
// Decryption happens after rendering: a template sees only the ciphertext
// ("ENC[AES256_GCM,...]"). Objects collects every ciphertext of the
// rendered objects, finds the files of the snapshot that hold them,
// verifies each such file whole (its MAC, with the keys given) and
// replaces each ciphertext by its plaintext. A file that fails its MAC, or
// that no key opens, is an *Error with the file's position, and nothing is
// returned. The application's own file (an Appfile with encrypted
// properties) is verified whole on every call, and a ciphertext that a
// template base64-encoded is decrypted inside its encoding.
//
//	keys, err := sops.ParseKeys(ageKeyFile)            // AGE-SECRET-KEY-1...
//	d := sops.New(keys, sops.DefaultOptions())
//	fields, err := d.Objects(ctx, snapshotFS, objs)    // objs: rendered objects
//	m := sops.NewMasker(fields)                         // mask before a diff
//
// The package never logs; the sops library's own loggers are silenced.
package sops
