package kustomize

import (
	"bytes"
	"fmt"
	"strings"
)

// substitute replaces variables in a YAML document, as Flux's post-build
// substitution does:
//
//	${VAR}           the value of VAR; empty (or an error when strict) if unset
//	${VAR:=default}  the value of VAR, or default when VAR is unset or empty
//	${VAR:-default}  the same
//	$${VAR}          a literal ${VAR}
//
// A ${...} whose name is not a variable name (${1}, ${#x}) is kept as it
// is, and so is a $ that starts none of these. Defaults are literal text
// and may not contain '}'.
func substitute(in []byte, vars map[string]string, strict bool) ([]byte, error) {
	if !bytes.Contains(in, []byte("${")) {
		return in, nil
	}
	var out bytes.Buffer
	out.Grow(len(in))
	s := string(in)
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			out.WriteString(s)
			return out.Bytes(), nil
		}
		if i > 0 && s[i-1] == '$' { // $${...}: escaped, drop one $
			out.WriteString(s[:i-1])
			out.WriteString("${")
			s = s[i+2:]
			continue
		}
		out.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return nil, fmt.Errorf("substitute: unterminated ${ in %q", excerpt(s[i:]))
		}
		expr := s[i+2 : i+end]
		val, ok, err := expand(expr, vars, strict)
		switch {
		case err != nil:
			return nil, err
		case ok:
			out.WriteString(val)
		default:
			out.WriteString(s[i : i+end+1])
		}
		s = s[i+end+1:]
	}
}

// expand evaluates one ${expr}; ok is false when expr is no variable.
func expand(expr string, vars map[string]string, strict bool) (val string, ok bool, err error) {
	name, def, hasDef := expr, "", false
	if i := strings.Index(expr, ":="); i >= 0 {
		name, def, hasDef = expr[:i], expr[i+2:], true
	} else if i := strings.Index(expr, ":-"); i >= 0 {
		name, def, hasDef = expr[:i], expr[i+2:], true
	}
	if !varName.MatchString(name) {
		return "", false, nil
	}
	v, set := vars[name]
	switch {
	case set && v != "":
		return v, true, nil
	case hasDef:
		return def, true, nil
	case set:
		return "", true, nil
	case strict:
		return "", false, fmt.Errorf("substitute: variable %s is not set and has no default", name)
	}
	return "", true, nil
}

func excerpt(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
