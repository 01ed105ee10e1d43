package appfile

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// appfileNames are the file names Load reads as application files in
// either syntax. Other *.yaml and *.yml files only contribute their
// core.oam.dev Application documents.
var appfileNames = []string{"Appfile", "Appfile.yaml", "Appfile.yml", "appfile.yaml", "appfile.yml"}

// Load discovers the applications under dir in a repository tree, with
// DefaultLoadOptions. It returns them sorted by name, each with Dir set to
// its file's directory relative to the root of fsys. See LoadWithOptions.
func Load(fsys fs.FS, dir string) ([]*Application, error) {
	return LoadWithOptions(fsys, dir, DefaultLoadOptions())
}

// LoadWithOptions discovers applications as Load does, within opts.
//
// Files named Appfile, Appfile.yaml, Appfile.yml, appfile.yaml or
// appfile.yml are application files in either syntax. In any other *.yaml
// or *.yml file, the documents that are core.oam.dev Applications are
// applications and everything else (plain manifests, kustomizations,
// values files) is ignored. Hidden directories, Helm chart directories
// (those holding a Chart.yaml) below dir and symbolic links are not
// searched. A broken application, a duplicate application name, an
// unreadable file and a walk over the limits are errors: the result is an
// ErrorList and no applications. LoadEach isolates broken files instead.
func LoadWithOptions(fsys fs.FS, dir string, opts LoadOptions) ([]*Application, error) {
	l, err := walk(fsys, dir, opts)
	if err != nil {
		return nil, err
	}
	errs := l.errs
	duplicateApps(l.apps, &errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	sortApps(l.apps)
	return l.apps, nil
}

// Loaded is what LoadEach found: the applications of the files that
// loaded, and the problems of the files that did not.
type Loaded struct {
	// Apps are the applications of every file without problems, sorted
	// by name, each with Dir set as Load sets it.
	Apps []*Application
	// Errors are the problems of the broken files, sorted by position.
	// Each names its file.
	Errors ErrorList
	// Broken are the files whose applications are left out of Apps,
	// sorted: the files Errors name.
	Broken []string
}

// LoadEach discovers applications as LoadWithOptions does, but a broken
// application file only costs the applications defined in it: Apps holds
// those of every other file, and Errors says what is wrong with the
// broken ones. A file is broken when it cannot be read or parsed, is over
// the file size limit, is a symbolic link named like an application
// file, holds an invalid application or none, or defines an application
// whose name another file defines too (both files are then broken).
//
// When the walk itself is incomplete (dir is not a valid path or cannot
// be read, a directory cannot be read, or the walk went over one of
// opts' limits), nothing can be said about which applications are absent:
// the error is then an ErrorList of every problem found, and there is no
// result, as with LoadWithOptions.
func LoadEach(fsys fs.FS, dir string, opts LoadOptions) (*Loaded, error) {
	l, err := walk(fsys, dir, opts)
	if err != nil {
		return nil, err
	}
	if l.incomplete {
		errs := l.errs
		duplicateApps(l.apps, &errs)
		return nil, errs.err()
	}
	broken := map[string]bool{}
	for _, e := range l.errs {
		broken[e.Pos.File] = true
	}
	errs := l.errs
	byName := map[string][]*Application{}
	for _, app := range l.apps {
		byName[app.Name] = append(byName[app.Name], app)
	}
	for _, apps := range byName {
		if len(apps) < 2 {
			continue
		}
		sortApps(apps)
		for i, app := range apps {
			other := apps[(i+1)%len(apps)]
			if i > 0 {
				other = apps[0]
			}
			errs.add(app.Pos, "application %q is also defined at %s", app.Name, other.Pos)
			broken[app.Pos.File] = true
		}
	}
	out := &Loaded{}
	for _, app := range l.apps {
		if !broken[app.Pos.File] {
			out.Apps = append(out.Apps, app)
		}
	}
	sortApps(out.Apps)
	out.Errors, _ = errs.err().(ErrorList)
	for f := range broken {
		out.Broken = append(out.Broken, f)
	}
	slices.Sort(out.Broken)
	return out, nil
}

// walk visits the tree under dir once and collects applications and
// problems.
func walk(fsys fs.FS, dir string, opts LoadOptions) (*loader, error) {
	if dir == "" {
		dir = "."
	}
	if !fs.ValidPath(dir) {
		return nil, ErrorList{{Pos: Position{File: dir}, Msg: "directory is not a valid path inside the repository"}}
	}
	l := &loader{fsys: fsys, root: dir, opts: opts.withDefaults()}
	if err := fs.WalkDir(fsys, dir, l.visit); err != nil {
		l.fail(&Error{Pos: Position{File: dir}, Msg: "walk failed: " + err.Error(), Err: err})
	}
	return l, nil
}

func sortApps(apps []*Application) {
	slices.SortFunc(apps, func(a, b *Application) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Pos.File, b.Pos.File))
	})
}

// loader is the state of one walk.
type loader struct {
	fsys    fs.FS
	root    string
	opts    LoadOptions
	entries int
	read    int64
	nodes   int
	apps    []*Application
	// errs are the problems found, in walk order; those of a single
	// file name it.
	errs ErrorList
	// incomplete says that a part of the tree was not searched (a
	// directory could not be read, or a limit stopped the walk).
	incomplete bool
}

// fail records a problem that leaves the walk incomplete.
func (l *loader) fail(e *Error) {
	l.errs = append(l.errs, e)
	l.incomplete = true
}

// failf is fail with a formatted message.
func (l *loader) failf(pos Position, format string, args ...any) {
	l.fail(&Error{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) visit(p string, d fs.DirEntry, err error) error {
	if err != nil {
		// fs.WalkDir reports errors of directories only (the root's
		// Lstat, a ReadDir): what is below them is unknown.
		l.fail(&Error{Pos: Position{File: p}, Msg: "cannot read: " + err.Error(), Err: err})
		return nil
	}
	l.entries++
	if l.entries > l.opts.MaxEntries {
		l.failf(Position{File: l.root}, "directory has more than %d entries; stopped searching for applications", l.opts.MaxEntries)
		return fs.SkipAll
	}
	if d.IsDir() {
		return l.visitDir(p, d)
	}
	name := d.Name()
	isAppfile := slices.Contains(appfileNames, name)
	if !isAppfile && !strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".yml") {
		return nil
	}
	if d.Type()&fs.ModeSymlink != 0 {
		if isAppfile {
			l.errs.add(Position{File: p}, "application file is a symbolic link, which carina does not follow")
		}
		return nil
	}
	if !d.Type().IsRegular() {
		return nil
	}
	return l.visitFile(p, isAppfile)
}

func (l *loader) visitDir(p string, d fs.DirEntry) error {
	if p == l.root {
		return nil
	}
	if strings.HasPrefix(d.Name(), ".") {
		return fs.SkipDir
	}
	rel := p
	if l.root != "." {
		rel = strings.TrimPrefix(p, l.root+"/")
	}
	if strings.Count(rel, "/")+1 > l.opts.MaxDepth {
		l.failf(Position{File: p}, "directory nests deeper than %d levels below %s; not searched", l.opts.MaxDepth, l.root)
		return fs.SkipDir
	}
	if _, err := fs.Stat(l.fsys, path.Join(p, "Chart.yaml")); err == nil {
		return fs.SkipDir
	}
	return nil
}

func (l *loader) visitFile(p string, isAppfile bool) error {
	data, truncated, err := l.readFile(p)
	if err != nil {
		l.errs = append(l.errs, &Error{Pos: Position{File: p}, Msg: "cannot read: " + err.Error(), Err: err})
		return nil
	}
	mentionsApp := bytes.Contains(data, []byte(kubeVelaGroup+"/"))
	if truncated {
		if isAppfile || mentionsApp {
			l.errs.add(Position{File: p}, "file is over the limit of %d bytes", l.opts.Parse.MaxFileBytes)
		}
		return nil
	}
	if l.read > l.opts.MaxTotalBytes {
		l.failf(Position{File: p}, "read more than %d bytes; stopped searching for applications", l.opts.MaxTotalBytes)
		return fs.SkipAll
	}
	mode := allDocs
	if !isAppfile {
		if !mentionsApp {
			return nil
		}
		mode = kubeVelaDocs
	}
	apps, nodes, errs := parseFile(p, data, l.opts.Parse, mode)
	l.errs = append(l.errs, errs...)
	if l.nodes += nodes; l.nodes > l.opts.MaxTotalNodes {
		l.failf(Position{File: p}, "applications expand to more than %d YAML nodes in all; stopped searching for applications", l.opts.MaxTotalNodes)
		return fs.SkipAll
	}
	if isAppfile && len(apps) == 0 && len(errs) == 0 {
		l.errs.add(Position{File: p}, "application file holds no application")
	}
	for _, app := range apps {
		app.Dir = path.Dir(p)
		l.apps = append(l.apps, app)
	}
	return nil
}

// readFile reads at most MaxFileBytes of a file; truncated reports that
// there was more.
func (l *loader) readFile(p string) (data []byte, truncated bool, err error) {
	f, err := l.fsys.Open(p)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	limit := int64(l.opts.Parse.MaxFileBytes)
	data, err = io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, false, err
	}
	l.read += int64(len(data))
	if int64(len(data)) > limit {
		return data[:limit], true, nil
	}
	return data, false, nil
}
