package appfile_test

import (
	"strings"
	"testing"

	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/render/sops/sopstest"
)

// TestSOPSEncryptedAppfileParses: a file SOPS encrypted with an
// encrypted_regex parses in both syntaxes: its "sops" metadata is not a
// field, its encrypted property is the ciphertext (the render decrypts
// it), and the rest is read as usual. A "sops" key that is not SOPS
// metadata stays an unknown field.
func TestSOPSEncryptedAppfileParses(t *testing.T) {
	k, err := sopstest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, plain string }{
		{"Appfile", "name: shop\nservices:\n  db:\n    type: webservice\n    image: postgres:16\n    password: s3cret\n"},
		{"app.yaml", `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: shop
spec:
  components:
    - name: db
      type: webservice
      properties:
        image: postgres:16
        password: s3cret
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := sopstest.Encrypt(tc.name, []byte(tc.plain), "^password$", k.Recipient)
			if err != nil {
				t.Fatal(err)
			}
			app, err := appfile.Parse(tc.name, enc)
			if err != nil {
				t.Fatalf("%v\n%s", err, enc)
			}
			props := app.Components[0].Properties
			if pw, _ := props["password"].(string); !strings.HasPrefix(pw, "ENC[AES256_GCM,") || props["image"] != "postgres:16" {
				t.Errorf("properties %v: want the password's ciphertext and the readable image", props)
			}
		})
	}
	_, err = appfile.Parse("Appfile", []byte("name: shop\nservices:\n  db:\n    type: webservice\nsops:\n  note: not sops\n"))
	if err == nil || !strings.Contains(err.Error(), `Appfile:5:1: appfile "shop": unknown field "sops"`) {
		t.Errorf("a sops key without a MAC: %v", err)
	}
}
