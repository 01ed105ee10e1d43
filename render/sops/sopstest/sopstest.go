// Package sopstest encrypts files with the sops library and an age key
// made on the spot, the way `sops encrypt --age` does, for tests.
package sopstest

import (
	"fmt"
	"path"
	"strings"
	"time"

	"filippo.io/age"
	sops "github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/keys"
	sopsjson "github.com/getsops/sops/v3/stores/json"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
	"github.com/getsops/sops/v3/version"
)

// Key is an age key pair.
type Key struct {
	// Identity is the private key, "AGE-SECRET-KEY-1...".
	Identity string
	// Recipient is the public key, "age1...".
	Recipient string
}

// NewKey generates an age key pair.
func NewKey() (Key, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return Key{}, err
	}
	return Key{Identity: id.String(), Recipient: id.Recipient().String()}, nil
}

type codec interface {
	sops.PlainFileLoader
	sops.EncryptedFileEmitter
}

// Encrypt encrypts plain (YAML, or JSON when name ends in .json) for the
// recipients. encryptedRegex limits which keys are encrypted, as
// `--encrypted-regex` does ("^(data|stringData)$" for Secrets); "" encrypts
// every value.
func Encrypt(name string, plain []byte, encryptedRegex string, recipients ...string) ([]byte, error) {
	var st codec = sopsyaml.NewStore(&config.YAMLStoreConfig{})
	if strings.EqualFold(path.Ext(name), ".json") {
		st = sopsjson.NewStore(&config.JSONStoreConfig{})
	}
	branches, err := st.LoadPlainFile(plain)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var group sops.KeyGroup
	for _, r := range recipients {
		mk, err := sopsage.MasterKeyFromRecipient(r)
		if err != nil {
			return nil, err
		}
		group = append(group, keys.MasterKey(mk))
	}
	tree := sops.Tree{Branches: branches, Metadata: sops.Metadata{
		KeyGroups: []sops.KeyGroup{group}, EncryptedRegex: encryptedRegex, Version: version.Version,
	}}
	dataKey, errs := tree.GenerateDataKey()
	if len(errs) > 0 {
		return nil, fmt.Errorf("data key: %v", errs)
	}
	cipher := aes.NewCipher()
	mac, err := tree.Encrypt(dataKey, cipher)
	if err != nil {
		return nil, err
	}
	tree.Metadata.LastModified = time.Now().UTC()
	if tree.Metadata.MessageAuthenticationCode, err = cipher.Encrypt(mac, dataKey, tree.Metadata.LastModified.Format(time.RFC3339)); err != nil {
		return nil, err
	}
	return st.EmitEncryptedFile(tree)
}
