package appfile

import (
	"bytes"
	"cmp"
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
// ErrorList and no applications.
func LoadWithOptions(fsys fs.FS, dir string, opts LoadOptions) ([]*Application, error) {
	if dir == "" {
		dir = "."
	}
	if !fs.ValidPath(dir) {
		return nil, ErrorList{{Pos: Position{File: dir}, Msg: "directory is not a valid path inside the repository"}}
	}
	l := &loader{fsys: fsys, root: dir, opts: opts.withDefaults()}
	if err := fs.WalkDir(fsys, dir, l.visit); err != nil {
		l.errs = append(l.errs, &Error{Pos: Position{File: dir}, Msg: "walk failed: " + err.Error(), Err: err})
	}
	duplicateApps(l.apps, &l.errs)
	if err := l.errs.err(); err != nil {
		return nil, err
	}
	slices.SortFunc(l.apps, func(a, b *Application) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Pos.File, b.Pos.File))
	})
	return l.apps, nil
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
	errs    ErrorList
}

func (l *loader) visit(p string, d fs.DirEntry, err error) error {
	if err != nil {
		l.errs = append(l.errs, &Error{Pos: Position{File: p}, Msg: "cannot read: " + err.Error(), Err: err})
		return nil
	}
	l.entries++
	if l.entries > l.opts.MaxEntries {
		l.errs.add(Position{File: l.root}, "directory has more than %d entries; stopped searching for applications", l.opts.MaxEntries)
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
		l.errs.add(Position{File: p}, "directory nests deeper than %d levels below %s; not searched", l.opts.MaxDepth, l.root)
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
		l.errs.add(Position{File: p}, "read more than %d bytes; stopped searching for applications", l.opts.MaxTotalBytes)
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
		l.errs.add(Position{File: p}, "applications expand to more than %d YAML nodes in all; stopped searching for applications", l.opts.MaxTotalNodes)
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
