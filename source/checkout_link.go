package source

import (
	"runtime"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/sys/unix"
)

// linker hard-links the files a new tree shares with its base tree,
// directory by directory, on a few goroutines while the checkout walks on.
// Files it cannot link (the base file is missing or is not what the entry
// says) are handed back, for the checkout to write from their blobs.
type linker struct {
	jobs chan linkJob
	wg   sync.WaitGroup

	mu     sync.Mutex
	bytes  int64
	failed []linkJob
}

// linkJob links entries from directory from to directory to.
type linkJob struct {
	from, to string
	entries  []object.TreeEntry
}

func newLinker() *linker {
	n := min(runtime.GOMAXPROCS(0), 4)
	l := &linker{jobs: make(chan linkJob, 4*n)}
	for range n {
		l.wg.Go(func() {
			for job := range l.jobs {
				l.run(job)
			}
		})
	}
	return l
}

// add queues a job; it must not be called after wait.
func (l *linker) add(job linkJob) {
	if len(job.entries) > 0 {
		l.jobs <- job
	}
}

// wait finishes all jobs and returns the bytes linked and what failed.
func (l *linker) wait() (int64, []linkJob) {
	close(l.jobs)
	l.wg.Wait()
	return l.bytes, l.failed
}

// run links one directory's files through directory descriptors, so each
// link resolves one path component instead of two long paths.
func (l *linker) run(job linkJob) {
	var bytes int64
	failed := linkJob{from: job.from, to: job.to}
	bfd, err1 := unix.Open(job.from, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	nfd, err2 := unix.Open(job.to, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err1 == nil && err2 == nil {
		for _, e := range job.entries {
			var st unix.Stat_t
			if unix.Fstatat(bfd, e.Name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || !sameKind(st.Mode, e.Mode) ||
				unix.Linkat(bfd, e.Name, nfd, e.Name, 0) != nil {
				failed.entries = append(failed.entries, e)
				continue
			}
			bytes += st.Size
		}
	} else {
		failed.entries = job.entries
	}
	for _, fd := range []int{bfd, nfd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bytes += bytes
	if len(failed.entries) > 0 {
		l.failed = append(l.failed, failed)
	}
}

// sameKind reports whether a base file of mode m is what a tree entry of
// mode fm would have been written as.
func sameKind(m uint32, fm filemode.FileMode) bool {
	switch fm {
	case filemode.Symlink:
		return m&unix.S_IFMT == unix.S_IFLNK
	case filemode.Executable:
		return m&unix.S_IFMT == unix.S_IFREG && m&0o7777 == 0o555
	}
	return m&unix.S_IFMT == unix.S_IFREG && m&0o7777 == 0o444
}
