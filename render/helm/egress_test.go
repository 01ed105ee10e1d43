package helm

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/carina-gitops/carina/internal/egress"
)

// TestChartFetchesRefuseWhatTheEgressPolicyDenies: with denyCIDRs
// 127.0.0.0/8 (the options having travelled as JSON, as they do to a
// render worker) a chart from a real HTTP chart repository and from a
// real OCI registry on loopback is refused before any request reaches
// them; a chart repository on loopback that redirects to the cloud
// metadata address is refused at that hop under the default policy.
func TestChartFetchesRefuseWhatTheEgressPolicyDenies(t *testing.T) {
	repo := newChartRepo(t, "0.1.0")
	host, ociOpts, _ := ociRegistry(t, "0.1.0")
	deny, err := egress.New(egress.Rules{DenyCIDRs: []string{"127.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	viaJSON := func(o Options) Options {
		t.Helper()
		client := o.HTTPClient
		data, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		var out Options
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatal(err)
		}
		out.HTTPClient = client // not serialized: the worker has its own
		return out
	}
	httpOpts := testOptions(t)
	httpOpts.Egress = deny
	ociOpts.Egress = deny

	var asked atomic.Int32
	metadata := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.Redirect(w, r, "http://169.254.169.254/computeMetadata/v1/"+strings.TrimPrefix(r.URL.Path, "/"), http.StatusFound)
	}))
	defer metadata.Close()

	tests := []struct {
		name  string
		props map[string]any
		opts  Options
		wants []string
	}{
		{"HTTP chart repository on a denied address", map[string]any{"chart": "shop", "repoURL": repo.srv.URL, "version": "0.1.0"}, viaJSON(httpOpts),
			[]string{"refusing to connect to 127.0.0.1:", "(denyCIDRs 127.0.0.0/8): denied by the egress policy"}},
		{"OCI registry on a denied address", map[string]any{"chart": "shop", "repoURL": "oci://" + host + "/charts", "version": "0.1.0"}, viaJSON(ociOpts),
			[]string{"refusing to connect to 127.0.0.1:", "(denyCIDRs 127.0.0.0/8): denied by the egress policy"}},
		{"redirect to the metadata service", map[string]any{"chart": "shop", "repoURL": metadata.URL, "version": "0.1.0"}, testOptions(t),
			[]string{"refusing to connect to 169.254.169.254:80 (link-local, cloud metadata): denied by the egress policy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Render(t.Context(), os.DirFS(t.TempDir()), Request{ReleaseName: "shop", Properties: tt.props}, tt.opts)
			assertError(t, objs, err, tt.wants...)
			if !errors.Is(err, egress.ErrDenied) && !strings.Contains(err.Error(), egress.ErrDenied.Error()) {
				t.Errorf("error %v is not a refusal", err)
			}
		})
	}
	if n := repo.count("/index.yaml"); n != 0 {
		t.Errorf("the denied chart repository was asked for its index %d times", n)
	}
	if asked.Load() == 0 {
		t.Error("the redirecting repository was never asked: the redirect was not what was refused")
	}
	// The same fetches under the default policy work: the refusals above
	// are the rule's.
	allowed := viaJSON(ociOpts)
	allowed.Egress = nil
	chartLabel(t, map[string]any{"chart": "shop", "repoURL": repo.srv.URL, "version": "0.1.0"}, testOptions(t))
	chartLabel(t, map[string]any{"chart": "shop", "repoURL": "oci://" + host + "/charts", "version": "0.1.0"}, allowed)
}
