package sops_test

import (
	"strings"
	"testing"

	"github.com/carina-gitops/carina/render/sops"
	"github.com/carina-gitops/carina/render/sops/sopstest"
)

// FuzzDecryptFile feeds repository files (untrusted) to the decryptor:
// it must never panic, and an error must never quote the key.
func FuzzDecryptFile(f *testing.F) {
	k, err := sopstest.NewKey()
	if err != nil {
		f.Fatal(err)
	}
	enc, err := sopstest.Encrypt("s.yaml", []byte(secretYAML), "^(data|stringData)$", k.Recipient)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc, false)
	f.Add([]byte(`{"a": "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]", "sops": {"mac": "x"}}`), true)
	f.Add([]byte("sops:\n  mac: 1\n  age: [{recipient: x, enc: y}]\n"), false)
	keys, err := sops.ParseKeys([]byte(k.Identity))
	if err != nil {
		f.Fatal(err)
	}
	d := sops.New(keys, sops.DefaultOptions())
	f.Fuzz(func(t *testing.T, data []byte, json bool) {
		name := "f.yaml"
		if json {
			name = "f.json"
		}
		_, err := d.DecryptFile(name, data)
		if err != nil && strings.Contains(err.Error(), k.Identity) {
			t.Fatalf("error quotes the key: %v", err)
		}
	})
}

// FuzzParseKeys: key files are operator input; errors never quote them.
func FuzzParseKeys(f *testing.F) {
	f.Add([]byte("# c\nAGE-SECRET-KEY-1QQQQ\n"))
	f.Add([]byte("hunter2"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := sops.ParseKeys(data)
		if err == nil {
			return
		}
		for _, line := range strings.Split(string(data), "\n") {
			if l := strings.TrimSpace(line); len(l) > 8 && !strings.HasPrefix(l, "#") && strings.Contains(err.Error(), l) {
				t.Fatalf("error quotes the input: %v", err)
			}
		}
	})
}
