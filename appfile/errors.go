package appfile

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem in an application description, at the position
// where it was found.
type Error struct {
	Pos Position
	// Msg starts with the object it is about, for example
	// `component "web": type is required`.
	Msg string
	// Err is the underlying cause, if any (for example an fs error).
	Err error
}

// Error prints "file:line:col: message".
func (e *Error) Error() string {
	if p := e.Pos.String(); p != "" {
		return p + ": " + e.Msg
	}
	return e.Msg
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// ErrorList is every problem found in one Parse, Load or Environments
// call, sorted by position. Use errors.As to get it from a returned error
// and print each entry on its own line.
type ErrorList []*Error

// Error prints one problem per line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the entries, so errors.Is and errors.As see each one.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// add records a problem at pos.
func (l *ErrorList) add(pos Position, format string, args ...any) {
	*l = append(*l, &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// err returns the list sorted by position and without exact duplicates, or
// nil when it is empty.
func (l ErrorList) err() error {
	if len(l) == 0 {
		return nil
	}
	out := slices.Clone(l)
	slices.SortStableFunc(out, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col),
		)
	})
	type key struct {
		pos Position
		msg string
	}
	seen := make(map[key]bool, len(out))
	return slices.DeleteFunc(out, func(e *Error) bool {
		k := key{e.Pos, e.Msg}
		dup := seen[k]
		seen[k] = true
		return dup
	})
}
