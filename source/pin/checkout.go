package pin

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// CheckoutLimits bound WriteTree.
type CheckoutLimits struct {
	MaxFiles int
	MaxBytes int64
}

// DefaultCheckoutLimits are 20,000 files and 256 MiB.
func DefaultCheckoutLimits() CheckoutLimits {
	return CheckoutLimits{MaxFiles: 20000, MaxBytes: 256 << 20}
}

// WriteTree writes the tree of commit into dir, which must be empty or
// missing: regular and executable files and directories only (symbolic
// links and submodules are left out), within lim.
func (r *Repo) WriteTree(ctx context.Context, commit, dir string, lim CheckoutLimits) error {
	c, err := r.repo.CommitObject(plumbing.NewHash(commit))
	if err != nil {
		return fmt.Errorf("revision %s: %w", commit, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files, total := 0, int64(0)
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		name, entry, err := walker.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if strings.Contains(name, "..") && strings.Contains("/"+name+"/", "/../") {
			return fmt.Errorf("tree path %q leaves the repository", name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		switch entry.Mode {
		case filemode.Dir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			continue
		case filemode.Regular, filemode.Deprecated, filemode.Executable:
		default:
			continue
		}
		if files++; files > lim.MaxFiles {
			return fmt.Errorf("revision %s has more than %d files", commit, lim.MaxFiles)
		}
		blob, err := r.repo.BlobObject(entry.Hash)
		if err != nil {
			return err
		}
		if total += blob.Size; total > lim.MaxBytes {
			return fmt.Errorf("revision %s is larger than %d bytes", commit, lim.MaxBytes)
		}
		if err := writeBlob(blob, dst); err != nil {
			return err
		}
	}
}

func writeBlob(b *object.Blob, dst string) error {
	rd, err := b.Reader()
	if err != nil {
		return err
	}
	defer rd.Close()
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rd); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
