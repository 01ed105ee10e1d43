package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestVersionJSON(t *testing.T) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"version", "-o", "json"})
	if err := root.ExecuteContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("version output is not JSON: %v\n%s", err, out.String())
	}
	if !strings.HasPrefix(got["go"], "go1.") {
		t.Errorf("go version = %q, want go1.x", got["go"])
	}
	if got["clientGo"] != "v0.36.3" {
		t.Errorf("clientGo = %q, want v0.36.3 (the pinned client-go)", got["clientGo"])
	}
}

func TestVersionRejectsUnknownFormat(t *testing.T) {
	root := newRootCmd()
	root.SetOut(&bytes.Buffer{})
	root.SetArgs([]string{"version", "-o", "xml"})
	if err := root.ExecuteContext(t.Context()); err == nil {
		t.Fatal("want an error for -o xml")
	}
}
