package sops

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"time"

	sops "github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/keyservice"
	"github.com/getsops/sops/v3/logging"
	sopsjson "github.com/getsops/sops/v3/stores/json"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
	"github.com/sirupsen/logrus"
)

// encPrefix starts every SOPS ciphertext.
const encPrefix = "ENC[AES256_GCM,"

var quietOnce sync.Once

// quiet silences the sops library's loggers: they would print to stderr,
// and a warning can quote a comment's plaintext.
func quiet() {
	quietOnce.Do(func() {
		for _, l := range logging.Loggers {
			l.SetLevel(logrus.PanicLevel)
			l.SetOutput(io.Discard)
		}
	})
}

// store reads and writes one format.
type store interface {
	sops.EncryptedFileLoader
	sops.PlainFileEmitter
}

// storeFor picks the store by the file name: .json is JSON, anything else
// YAML.
func storeFor(name string) store {
	if strings.EqualFold(path.Ext(name), ".json") {
		return sopsjson.NewStore(&config.JSONStoreConfig{})
	}
	return sopsyaml.NewStore(&config.YAMLStoreConfig{})
}

// IsEncrypted reports whether data looks like a SOPS file: it holds a
// ciphertext and sops metadata with a MAC.
func IsEncrypted(data []byte) bool {
	return bytes.Contains(data, []byte(encPrefix)) && bytes.Contains(data, []byte("sops")) && bytes.Contains(data, []byte("mac"))
}

// File is one decrypted file.
type File struct {
	// Plain is the decrypted file in its own format.
	Plain []byte
	// values maps each ciphertext of the file (the MAC's included) to its
	// plaintext value.
	values map[string]any
}

// DecryptFile verifies and decrypts one file (name picks the format:
// .json or YAML). Errors are *Error with the file's position: ErrNoKey
// when no key opens it, ErrMAC when it was changed, ErrFormat when it is
// not SOPS.
func (d *Decryptor) DecryptFile(name string, data []byte) (*File, error) {
	quiet()
	st := storeFor(name)
	tree, err := st.LoadEncryptedFile(data)
	if err != nil {
		return nil, &Error{File: name, Err: ErrFormat}
	}
	at := func(key string, err error) error { return &Error{File: name, Line: lineOf(data, key), Err: err} }
	key, err := tree.Metadata.GetDataKeyWithKeyServices([]keyservice.KeyServiceClient{ageService{keys: d.keys}}, nil)
	if err != nil {
		return nil, at("sops", ErrNoKey)
	}
	before := leaves(tree.Branches)
	cipher := aes.NewCipher()
	mac, err := tree.Decrypt(key, cipher)
	if err != nil {
		// A ciphertext that fails its GCM tag was changed too.
		return nil, at("mac", ErrMAC)
	}
	want, err := cipher.Decrypt(tree.Metadata.MessageAuthenticationCode, key, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil || want != mac {
		return nil, at("mac", ErrMAC)
	}
	after := leaves(tree.Branches)
	if len(before) != len(after) {
		return nil, at("sops", ErrFormat)
	}
	f := &File{values: map[string]any{tree.Metadata.MessageAuthenticationCode: nil}}
	for i, b := range before {
		if s, ok := b.(string); ok && strings.HasPrefix(s, encPrefix) {
			f.values[s] = after[i]
		}
	}
	if f.Plain, err = st.EmitPlainFile(tree.Branches); err != nil {
		return nil, at("sops", fmt.Errorf("%w: %s", ErrFormat, "cannot write the plaintext"))
	}
	return f, nil
}

// leaves lists every leaf of a tree in walk order; comments are leaves
// too, so that the lists before and after decryption line up.
func leaves(branches sops.TreeBranches) []any {
	var out []any
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case sops.TreeBranch:
			for _, item := range v {
				if c, ok := item.Key.(sops.Comment); ok {
					out = append(out, c.Value)
					continue
				}
				walk(item.Value)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case sops.Comment:
			out = append(out, v.Value)
		default:
			out = append(out, v)
		}
	}
	for _, b := range branches {
		walk(b)
	}
	return out
}

// lineOf returns the 1-based line of the first line that declares key
// ("key:" in YAML, "\"key\"" in JSON), or 0.
func lineOf(data []byte, key string) int {
	for i, line := range bytes.Split(data, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if bytes.HasPrefix(t, []byte(key+":")) || bytes.HasPrefix(t, []byte(`"`+key+`"`)) {
			return i + 1
		}
	}
	return 0
}

// errNotAge is what the key service says about a key that is not age.
var errNotAge = errors.New("only age keys are supported")
