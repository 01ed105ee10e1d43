package helm

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
)

// loadChart finds the chart the properties name: an OCI reference, a chart
// in an HTTP(S) chart repository, or a directory (or .tgz) in the repository.
func loadChart(ctx context.Context, fsys fs.FS, dir string, p properties, o Options) (*chart.Chart, error) {
	switch {
	case p.RepoURL == "" && strings.HasPrefix(p.Chart, "oci://"):
		return loadOCI(ctx, strings.TrimPrefix(p.Chart, "oci://"), p.Version, o)
	case p.RepoURL == "":
		name, err := repoPath(dir, p.Chart, "chart")
		if err != nil {
			return nil, err
		}
		return loadChartFS(fsys, name, o)
	case strings.HasPrefix(p.RepoURL, "oci://"):
		if strings.Contains(p.Chart, "/") || strings.Contains(p.Chart, ":") {
			return nil, fmt.Errorf("chart %q must be a bare chart name under repoURL %s", p.Chart, redactURL(p.RepoURL))
		}
		base := strings.TrimSuffix(strings.TrimPrefix(p.RepoURL, "oci://"), "/")
		return loadOCI(ctx, base+"/"+p.Chart, p.Version, o)
	case strings.HasPrefix(p.RepoURL, "https://"), strings.HasPrefix(p.RepoURL, "http://"):
		return loadFromRepo(ctx, p.RepoURL, p.Chart, p.Version, o)
	default:
		return nil, fmt.Errorf("repoURL %s: the scheme must be https://, http:// or oci://", redactURL(p.RepoURL))
	}
}

// redactURL drops the user information, query and fragment from a URL so
// that an error never carries a credential.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparseable URL>"
	}
	u.User = nil
	u.RawQuery = ""
	u.ForceQuery = false
	u.Fragment = ""
	return u.String()
}
