package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/carina-gitops/carina/render"
	"github.com/carina-gitops/carina/render/sops"
)

// decryptFlags make `carina render` decrypt SOPS values. Without
// --decrypt they stay encrypted, as they are in Git.
type decryptFlags struct {
	decrypt bool
	keyFile string
}

// maxKeyFileBytes bounds an age key file.
const maxKeyFileBytes = 64 << 10

func (d *decryptFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&d.decrypt, "decrypt", false, "decrypt SOPS-encrypted values after rendering (needs --age-key-file or SOPS_AGE_KEY_FILE)")
	cmd.Flags().StringVar(&d.keyFile, "age-key-file", "", "a file of age identities (AGE-SECRET-KEY-1...) for --decrypt")
}

// decryption returns the render option, or nil without --decrypt.
func (d *decryptFlags) decryption() (*render.Decryption, error) {
	if !d.decrypt {
		if d.keyFile != "" {
			return nil, errors.New("--age-key-file needs --decrypt")
		}
		return nil, nil
	}
	file := d.keyFile
	if file == "" {
		file = os.Getenv("SOPS_AGE_KEY_FILE")
	}
	if file == "" {
		return nil, errors.New("--decrypt needs a key: --age-key-file or SOPS_AGE_KEY_FILE")
	}
	fi, err := os.Stat(file)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxKeyFileBytes {
		return nil, fmt.Errorf("age key file %s is not a readable file of at most %d bytes", file, maxKeyFileBytes)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("age key file %s cannot be read", file)
	}
	keys, err := sops.ParseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("age key file %s: %w", file, err)
	}
	return &render.Decryption{Keys: keys}, nil
}

// decryptTarget decrypts the SOPS values of a render for carina diff and
// apply. Without --decrypt a ciphertext is an error that says how to
// decrypt it: applied as it is, it would reach the cluster encrypted (and
// its "sops" metadata is no field of any kind).
func decryptTarget(ctx context.Context, res *render.Result, fsys fs.FS, dec *render.Decryption) error {
	if dec != nil {
		return render.Decrypt(ctx, res, fsys, dec)
	}
	if err := render.Decrypt(ctx, res, fsys, &render.Decryption{}); err != nil {
		return fmt.Errorf("%w (give --decrypt with --age-key-file or SOPS_AGE_KEY_FILE)", err)
	}
	return nil
}
