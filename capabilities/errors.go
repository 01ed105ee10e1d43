package capabilities

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"
)

// Problem is one error found in a definition module, with its position.
type Problem struct {
	Pos Position `json:"pos"`
	Msg string   `json:"msg"`
}

func (p Problem) Error() string {
	if s := p.Pos.String(); s != "" {
		return s + ": " + p.Msg
	}
	return p.Msg
}

// Problems is a list of problems; as an error it prints one per line.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Err returns ps as an error, or nil when it is empty.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

func (ps Problems) sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i].Pos, ps[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// NotFoundError is returned when no source has a definition of the kind and
// name asked for.
type NotFoundError struct {
	Kind Kind
	Name string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s type %q is not defined (no app, capability or built-in definition has that name)", e.Kind, e.Name)
}

// IsNotFound reports whether err says a definition does not exist.
func IsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}

// PositionOf converts a CUE position.
func PositionOf(p token.Pos) Position {
	if !p.IsValid() {
		return Position{}
	}
	tp := p.Position()
	return Position{File: tp.Filename, Line: tp.Line, Col: tp.Column}
}

// ProblemsFromCUE expands a CUE error (often a list) into problems, one per
// underlying error, each with the first position CUE knows.
func ProblemsFromCUE(err error, fallback Position) Problems {
	if err == nil {
		return nil
	}
	var out Problems
	seen := map[Problem]bool{}
	for _, e := range cueerrors.Errors(err) {
		pos := PositionOf(e.Position())
		if pos.File == "" {
			for _, ip := range e.InputPositions() {
				if pos = PositionOf(ip); pos.File != "" {
					break
				}
			}
		}
		if pos.File == "" {
			pos = fallback
		}
		p := Problem{Pos: pos, Msg: cueMessage(e)}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		out = append(out, Problem{Pos: fallback, Msg: err.Error()})
	}
	return out
}

// cueMessage prints a CUE error with its path but without positions.
func cueMessage(e cueerrors.Error) string {
	format, args := e.Msg()
	msg := fmt.Sprintf(format, args...)
	if p := e.Path(); len(p) > 0 {
		return strings.Join(p, ".") + ": " + msg
	}
	return msg
}
