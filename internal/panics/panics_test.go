package panics

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

func fails(component string) (err error) {
	defer Recover(component, &err)
	var m map[string]int
	m["x"] = 1 // a nil-map write: a runtime panic
	return nil
}

func TestRecoverMakesAnError(t *testing.T) {
	err := fails("render")
	if !errors.Is(err, ErrPanic) {
		t.Fatalf("err = %v, want ErrPanic", err)
	}
	var p *Error
	if !errors.As(err, &p) {
		t.Fatalf("err = %T, want *Error", err)
	}
	if p.Component != "render" || !strings.Contains(p.Error(), "render panicked: assignment to entry in nil map") {
		t.Errorf("Error() = %q", p.Error())
	}
	if !strings.Contains(string(p.Stack), "panics.fails") {
		t.Errorf("stack does not name the panicking function:\n%s", p.Stack)
	}
}

func TestFirstRepanicsInTheCaller(t *testing.T) {
	run := func() (err error) {
		defer Recover("apply", &err)
		var f First
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				f.Go("apply", func() {
					if i%2 == 1 {
						panic("worker " + string(rune('0'+i)))
					}
				})
			})
		}
		wg.Wait()
		f.Repanic()
		return nil
	}
	err := run()
	var p *Error
	if !errors.As(err, &p) || !strings.HasPrefix(p.Error(), "apply panicked: worker ") {
		t.Fatalf("err = %v, want a worker's panic", err)
	}
	if !strings.Contains(string(p.Stack), "TestFirstRepanicsInTheCaller") {
		t.Errorf("stack is not the worker's:\n%s", p.Stack)
	}
	var none First
	none.Repanic() // nothing kept: no panic
}

func TestCatch(t *testing.T) {
	if p := Catch("x", func() {}); p != nil {
		t.Errorf("Catch of a normal return = %v", p)
	}
	boom := errors.New("boom")
	p := Catch("x", func() { panic(boom) })
	if p == nil || !errors.Is(p, boom) {
		t.Errorf("Catch(panic(boom)) = %v, want one that unwraps to boom", p)
	}
}
