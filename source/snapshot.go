package source

import (
	"io/fs"
	"log/slog"
	"strings"
	"time"
)

// Snapshot is one commit of a repository, materialized read-only on disk.
// It never changes once returned; a new commit gives a new Snapshot.
type Snapshot struct {
	// URL is the repository URL without credentials or query.
	URL string
	// Ref is the resolved ref: refs/heads/main, refs/tags/v1.2.3,
	// refs/pull/42/head, or the commit id for a commit Ref.
	Ref string
	// Commit is the full commit id.
	Commit string
	// Version is the tag's version for a semver Ref, "" otherwise.
	Version string
	// Time is the committer time of the commit.
	Time time.Time
	// Message is the commit message.
	Message string
	// Path is the Ref's path: the directory of the tree the consumer reads.
	Path string
	// Dir is the absolute on-disk root of the tree: files are read-only
	// and the directory is shared by every Snapshot of the same commit.
	// Another process may read it (through DirFS, to keep the same
	// confinement). It stays on disk while it is in use; see
	// Options.KeepSnapshots and Options.SnapshotTTL.
	Dir string
	// Files and Bytes count the files (and symlinks) and their total size.
	Files int
	Bytes int64
}

// FS returns the tree as a read-only file system confined to the
// repository root: reading a symlink that leaves the root, or a FIFO,
// device or socket, fails. See DirFS.
func (s *Snapshot) FS() fs.FS { return DirFS(s.Dir) }

// Revision returns "<short ref>@sha1:<commit>", for example
// "main@sha1:0123…", the form used in status and metrics; for an OCI
// artifact "<tag>@sha256:<digest>".
func (s *Snapshot) Revision() string {
	name := s.Ref
	for _, p := range []string{"refs/heads/", "refs/tags/"} {
		name = strings.TrimPrefix(name, p)
	}
	if strings.HasPrefix(s.Commit, "sha256:") {
		// An OCI artifact: Commit is its manifest digest.
		if name == s.Commit {
			return s.Commit
		}
		return name + "@" + s.Commit
	}
	if name == s.Commit {
		return "sha1:" + s.Commit
	}
	return name + "@sha1:" + s.Commit
}

// LogValue makes slog print the Snapshot as a short group.
func (s *Snapshot) LogValue() slog.Value {
	if s == nil {
		return slog.StringValue("<none>")
	}
	return slog.GroupValue(
		slog.String("url", s.URL),
		slog.String("revision", s.Revision()),
	)
}

// treeMeta describes a materialized tree; it is stored next to the tree.
type treeMeta struct {
	Commit  string    `json:"commit"`
	Time    time.Time `json:"time"`
	Message string    `json:"message"`
	treeStats
}

func newSnapshot(r Ref, u repoURL, t target, dir string, m *treeMeta) *Snapshot {
	name := t.name
	if r.Kind() == KindCommit {
		name = m.Commit
	}
	return &Snapshot{
		URL:     Redact(u.String()),
		Ref:     name,
		Commit:  m.Commit,
		Version: t.version,
		Time:    m.Time,
		Message: m.Message,
		Path:    r.Path,
		Dir:     dir,
		Files:   m.Files,
		Bytes:   m.Bytes,
	}
}
