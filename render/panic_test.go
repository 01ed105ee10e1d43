package render

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/internal/panics"
	"github.com/carina-gitops/carina/render/pool"
)

// panicApp is the application name that makes a test worker panic.
const panicApp = "panic-in-worker"

// panicking is a worker handler that panics on jobs of panicApp, as a
// bug in a render engine would, and renders the rest with h.
func panicking(h pool.Handler) pool.Handler {
	return func(ctx context.Context, req []byte) ([]byte, error) {
		if bytes.Contains(req, []byte(`"name":"`+panicApp+`"`)) {
			var m map[string]int
			m["boom"]++ // a nil-map write: a runtime panic
		}
		return h(ctx, req)
	}
}

// TestIsolatedPanicFailsOnlyThatRender: a panic in a worker is an error
// of that render, typed (*panics.Error, with the worker's stack); the
// next render works.
func TestIsolatedPanicFailsOnlyThatRender(t *testing.T) {
	reg, repo := diskInputs(t)
	r := isolated(t)
	bad := &appfile.Application{Name: panicApp, Components: []appfile.Component{comp("web", "webservice", 4, web())}}
	res, err := r.Render(t.Context(), bad, appfile.Environment{Name: "default"}, reg, repo, DefaultOptions())
	var p *panics.Error
	if res != nil || !errors.As(err, &p) {
		t.Fatalf("Render = %v, %v; want a *panics.Error", res, err)
	}
	if !strings.Contains(err.Error(), "assignment to entry in nil map") || !strings.Contains(string(p.Stack), "panicking") {
		t.Errorf("panic error %q lacks the value, or its stack lacks the handler:\n%s", err, p.Stack)
	}
	ok := &appfile.Application{Name: "shop", Components: []appfile.Component{comp("web", "webservice", 4, web())}}
	res, err = r.Render(t.Context(), ok, appfile.Environment{Name: "default"}, reg, repo, DefaultOptions())
	if err != nil || len(res.Objects) != 1 {
		t.Fatalf("the render after a panic = %v, %v; want one object", res, err)
	}
}

// TestRenderPanicIsTyped: a panic in an in-process render (here a nil
// registry, a caller's bug) is an error of that render.
func TestRenderPanicIsTyped(t *testing.T) {
	_, repo := diskInputs(t)
	app := &appfile.Application{Name: "shop", Components: []appfile.Component{comp("web", "webservice", 4, web())}}
	_, err := Render(t.Context(), app, appfile.Environment{Name: "default"}, nil, repo, DefaultOptions())
	if !errors.Is(err, panics.ErrPanic) || !strings.Contains(err.Error(), "render of application shop (env default)") {
		t.Fatalf("Render with a nil registry = %v, want a typed panic of that render", err)
	}
}
