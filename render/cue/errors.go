package cue

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	cuelang "cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"

	"github.com/carina-gitops/carina/capabilities"
)

// Error is an evaluation error of one definition. It names the definition,
// the parameter when the error is about one, and the positions in the
// definition that CUE reports.
type Error struct {
	// Definition is "kind name", for example "trait scaler".
	Definition string
	// Parameter is the dotted path of the parameter at fault, or "".
	Parameter string
	// Msg says what is wrong.
	Msg string
	// Pos are positions in the definition file, most relevant first.
	Pos []capabilities.Position

	path []string // CUE path of the error, from the file root
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Definition)
	if e.Parameter != "" {
		fmt.Fprintf(&b, ": parameter %q", e.Parameter)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if len(e.Pos) > 0 {
		ps := make([]string, len(e.Pos))
		for i, p := range e.Pos {
			ps[i] = p.String()
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(ps, ", "))
	}
	return b.String()
}

// templatePrefix is stripped from CUE paths in messages: users think of
// output.spec, not template.output.spec.
const templatePrefix = "template."

// cueError converts a CUE error into a joined list of *Error.
func cueError(def *capabilities.Definition, err error) error {
	return errors.Join(cueErrors(def, err)...)
}

// cueErrors converts a CUE error into one *Error per underlying error;
// errors under template.parameter become parameter errors.
func cueErrors(def *capabilities.Definition, err error) []error {
	var out []error
	for _, e := range cueerrors.Errors(err) {
		out = append(out, fromCUE(def, e))
	}
	if len(out) == 0 && err != nil {
		out = append(out, &Error{Definition: def.String(), Msg: err.Error(), Pos: []capabilities.Position{def.Pos}})
	}
	return out
}

func fromCUE(def *capabilities.Definition, e cueerrors.Error) *Error {
	path := strings.Join(e.Path(), ".")
	format, args := e.Msg()
	out := &Error{Definition: def.String(), Msg: fmt.Sprintf(format, args...), path: e.Path()}
	switch {
	case strings.HasPrefix(path, "template.parameter."):
		out.Parameter = strings.TrimPrefix(path, "template.parameter.")
	case path == "template.parameter":
	case path != "":
		out.Msg = strings.TrimPrefix(path, templatePrefix) + ": " + out.Msg
	}
	seen := map[capabilities.Position]bool{}
	add := func(p capabilities.Position) {
		if p.File != "" && !seen[p] {
			seen[p] = true
			out.Pos = append(out.Pos, p)
		}
	}
	add(capabilities.PositionOf(e.Position()))
	for _, p := range e.InputPositions() {
		add(capabilities.PositionOf(p))
	}
	if len(out.Pos) == 0 {
		out.Pos = []capabilities.Position{def.Pos}
	}
	return out
}

// selectorPath turns a CUE error path back into a path.
func selectorPath(elems []string) cuelang.Path {
	sels := make([]cuelang.Selector, 0, len(elems))
	for _, e := range elems {
		if n, err := strconv.Atoi(e); err == nil {
			sels = append(sels, cuelang.Index(n))
			continue
		}
		if u, err := strconv.Unquote(e); err == nil {
			e = u
		}
		sels = append(sels, cuelang.Str(e))
	}
	return cuelang.MakePath(sels...)
}

// errorAt builds an error about a value of the template.
func errorAt(def *capabilities.Definition, v cuelang.Value, format string, args ...any) *Error {
	e := &Error{Definition: def.String(), Msg: fmt.Sprintf(format, args...)}
	if p := capabilities.PositionOf(v.Pos()); p.File != "" {
		e.Pos = []capabilities.Position{p}
	} else {
		e.Pos = []capabilities.Position{def.Pos}
	}
	return e
}
