package source

// DiskDir is the directory a DirFS reads, so that a render worker process
// can open the same confined tree again.
func (f rootFS) DiskDir() string { return f.dir }
