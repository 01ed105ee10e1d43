package pin

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

func splitPath(file string) []string { return strings.Split(file, "/") }

func storeBlob(st storer.EncodedObjectStorer, content []byte) (plumbing.Hash, error) {
	obj := st.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(content); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return st.SetEncodedObject(obj)
}

// replaceFile returns the hash of tree with the file at parts set to blob,
// creating the directories on the way; tree may be nil (an empty tree).
func replaceFile(st storer.EncodedObjectStorer, tree *object.Tree, parts []string, blob plumbing.Hash) (plumbing.Hash, error) {
	var entries []object.TreeEntry
	if tree != nil {
		entries = append(entries, tree.Entries...)
	}
	name := parts[0]
	if name == "" || name == "." || name == ".." {
		return plumbing.ZeroHash, fmt.Errorf("path element %q is not allowed", name)
	}
	i := slices.IndexFunc(entries, func(e object.TreeEntry) bool { return e.Name == name })
	found := i >= 0
	var entry object.TreeEntry
	if len(parts) == 1 {
		if found && entries[i].Mode == filemode.Dir {
			return plumbing.ZeroHash, errors.New("a directory is in the way")
		}
		entry = object.TreeEntry{Name: name, Mode: filemode.Regular, Hash: blob}
	} else {
		var sub *object.Tree
		if found {
			if entries[i].Mode != filemode.Dir {
				return plumbing.ZeroHash, fmt.Errorf("%s is a file, not a directory", name)
			}
			t, err := object.GetTree(st, entries[i].Hash)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			sub = t
		}
		h, err := replaceFile(st, sub, parts[1:], blob)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entry = object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h}
	}
	if found {
		entries[i] = entry
	} else {
		entries = append(entries, entry)
	}
	sortEntries(entries)
	out := &object.Tree{Entries: entries}
	obj := st.NewEncodedObject()
	if err := out.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return st.SetEncodedObject(obj)
}

// sortEntries puts entries in Git's order: by name, a directory compared
// as if its name ended in "/".
func sortEntries(entries []object.TreeEntry) {
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(entries, func(a, b int) bool { return key(entries[a]) < key(entries[b]) })
}

func storeCommit(st storer.EncodedObjectStorer, tree, parent plumbing.Hash, msg string, sig Signature) (plumbing.Hash, error) {
	now := time.Now()
	who := object.Signature{Name: sig.Name, Email: sig.Email, When: now}
	c := &object.Commit{Author: who, Committer: who, Message: msg, TreeHash: tree, ParentHashes: []plumbing.Hash{parent}}
	obj := st.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return st.SetEncodedObject(obj)
}
