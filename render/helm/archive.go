package helm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
)

// loadArchive loads a chart from a .tgz archive held in memory, within the
// chart budget of o. Helm's own archive loader is not used because its caps
// are process-wide variables.
func loadArchive(data []byte, o Options) (*chart.Chart, error) {
	b := newBudget(o)
	files, err := untarChart(data, b)
	if err != nil {
		return nil, fmt.Errorf("chart archive: %w", err)
	}
	files, err = expandSubchartArchives(files, b)
	if err != nil {
		return nil, fmt.Errorf("chart archive: %w", err)
	}
	c, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("chart archive: %w", err)
	}
	return c, nil
}

// untarChart unpacks a gzip'ed tar of one chart directory. Names lose their
// first component (the chart's directory); links, devices and paths that
// climb out are refused.
func untarChart(data []byte, b *budget) ([]*loader.BufferedFile, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	var files []*loader.BufferedFile
	for {
		hd, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch hd.Typeflag {
		case tar.TypeDir, tar.TypeXGlobalHeader, tar.TypeXHeader:
			continue
		case tar.TypeReg:
		default:
			return nil, fmt.Errorf("entry %s is not a regular file", hd.Name)
		}
		name, err := archiveEntryName(hd.Name)
		if err != nil {
			return nil, err
		}
		if err := b.take(name, hd.Size); err != nil {
			return nil, err
		}
		buf, err := io.ReadAll(io.LimitReader(tr, hd.Size+1))
		if err != nil {
			return nil, fmt.Errorf("entry %s: %w", hd.Name, err)
		}
		if int64(len(buf)) != hd.Size {
			return nil, fmt.Errorf("entry %s: size does not match its header", hd.Name)
		}
		files = append(files, &loader.BufferedFile{Name: name, Data: bytes.TrimPrefix(buf, utf8BOM)})
	}
	if len(files) == 0 {
		return nil, errors.New("archive holds no files")
	}
	return files, nil
}

func archiveEntryName(raw string) (string, error) {
	n := strings.ReplaceAll(raw, `\`, "/")
	first, rest, ok := strings.Cut(n, "/")
	if !ok || first == "" || rest == "" {
		return "", fmt.Errorf("entry %s is not inside the chart's directory", raw)
	}
	if path.IsAbs(rest) || (len(rest) > 1 && rest[1] == ':') {
		return "", fmt.Errorf("entry %s has an absolute path", raw)
	}
	rest = path.Clean(rest)
	if rest == "." || rest == ".." || strings.HasPrefix(rest, "../") {
		return "", fmt.Errorf("entry %s climbs out of the chart's directory", raw)
	}
	return rest, nil
}

// expandSubchartArchives replaces every vendored subchart archive
// (charts/NAME.tgz, at any depth) by its files under charts/NAME.tgz.d/, so
// that the whole tree is charged to one budget. Helm names subcharts by
// their Chart.yaml, not by their directory, so the rename is invisible.
func expandSubchartArchives(files []*loader.BufferedFile, b *budget) ([]*loader.BufferedFile, error) {
	out := make([]*loader.BufferedFile, 0, len(files))
	for len(files) > 0 {
		f := files[0]
		files = files[1:]
		if !isSubchartArchive(f.Name) {
			out = append(out, f)
			continue
		}
		inner, err := untarChart(f.Data, b)
		if err != nil {
			return nil, fmt.Errorf("subchart archive %s: %w", f.Name, err)
		}
		prefix := f.Name + ".d/"
		for _, g := range inner {
			g.Name = prefix + g.Name
		}
		files = append(files, inner...)
	}
	return out, nil
}

// isSubchartArchive says whether name is charts/X.tgz in the chart or in one
// of its subchart directories (charts/A/charts/X.tgz, ...).
func isSubchartArchive(name string) bool {
	segs := strings.Split(name, "/")
	for i := 0; i+1 < len(segs); i += 2 {
		if segs[i] != "charts" {
			return false
		}
		if i+2 == len(segs) {
			return strings.HasSuffix(segs[i+1], ".tgz")
		}
	}
	return false
}
