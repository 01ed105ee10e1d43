package sops

import (
	"errors"
	"fmt"
)

// Conditions callers branch on; test them with errors.Is.
var (
	// ErrMAC marks a file whose content does not match its MAC: it was
	// changed after it was encrypted.
	ErrMAC = errors.New("sops MAC mismatch: the file was changed after it was encrypted")
	// ErrNoKey marks a file that none of the configured keys opens.
	ErrNoKey = errors.New("sops file has no configured key: none of this source's age keys opens it")
	// ErrFormat marks a file or value that is not valid SOPS.
	ErrFormat = errors.New("not a valid sops file")
	// ErrKeyFormat marks a key that is not an age identity.
	ErrKeyFormat = errors.New("not an age identity (AGE-SECRET-KEY-1...)")
	// ErrUnknownValue marks a ciphertext in a rendered object that no
	// file of the snapshot holds.
	ErrUnknownValue = errors.New("sops value comes from no file of the snapshot")
	// ErrLimit marks a search over the snapshot's file limits.
	ErrLimit = errors.New("sops search exceeds its limit")
)

// Error is a decryption failure at a position: "file:line" for a file,
// or the object and field for a rendered value. Its text never holds a
// plaintext value or a key.
type Error struct {
	// File is the file's path in the snapshot; "" for an object.
	File string
	// Line is the 1-based line of the sops metadata (or 0).
	Line int
	// Object and Field name a rendered value: "Secret/ns/name", "data.password".
	Object, Field string
	// Err is one of the Err* values, or a sanitized cause.
	Err error
}

func (e *Error) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	case e.File != "":
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	case e.Field != "":
		return fmt.Sprintf("%s field %s: %v", e.Object, e.Field, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Object, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }
