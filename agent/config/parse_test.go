package config

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseFullFile(t *testing.T) {
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse("full.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Sources: Sources{
			Apps: []Source{{
				Name: "shop", URL: "https://git.example.com/acme/shop.git", Branch: "main", Path: "apps",
				Definitions: "defs", Interval: 30 * time.Second, Prune: new(false),
				Auth: Auth{Username: "carina", PasswordFile: "/etc/carina/git/password"},
			}},
			Capabilities: []Source{{
				Name: "platform", URL: "ssh://git@git.example.com/acme/platform.git", Tag: "v1.2.0", Path: "definitions",
				Auth: Auth{SSHKeyFile: "/etc/carina/ssh/key", KnownHostsFile: "/etc/carina/ssh/known_hosts"},
			}},
		},
		Clusters: []Cluster{
			{Name: "staging", Kubeconfig: &Kubeconfig{File: "/etc/carina/kubeconfig", Context: "staging"}, QPS: 50, Burst: 100},
			{Name: "prod", Secret: &SecretKubeconfig{Cluster: "staging", Namespace: "carina-system", Name: "prod-kubeconfig", Key: "value"}},
			{Name: "local", InCluster: true},
		},
		Webhooks: []Webhook{
			{Provider: "github", Path: "/hooks/github", SecretFile: "/etc/carina/webhook/github"},
			{Provider: "gitlab", Path: "/hooks/gitlab-main", SecretEnv: "GITLAB_TOKEN"},
			{Provider: "distribution", Path: "/hooks/registry", SecretFile: "/etc/carina/webhook/registry"},
		},
		Server: Server{Listen: "127.0.0.1:9090", DebugAddr: "127.0.0.1:6060", API: API{TokenEnv: "CARINA_API_TOKEN", AllowWrites: true}},
		Reconcile: Reconcile{
			Workers: 8, PollInterval: 2 * time.Minute, Resync: 15 * time.Minute, ItemTimeout: 5 * time.Minute,
			StepTimeout: 3 * time.Minute, MinBackoff: 500 * time.Millisecond, MaxBackoff: 2 * time.Minute,
			History: 30, ShutdownTimeout: 9 * time.Second,
		},
		Limits: Limits{
			Fetch:  FetchLimits{MaxBytes: 128 << 20, MaxFiles: 10000, Timeout: time.Minute},
			Render: RenderLimits{Timeout: 30 * time.Second, MaxObjects: 5000, MaxOutputBytes: 32 << 20, Workers: 3, WorkerMemory: 512 << 20},
		},
		LeaderElection: LeaderElection{
			Cluster: "local", Namespace: "carina", Name: "carina-lease", Identity: "replica-a",
			LeaseDuration: 20 * time.Second, RenewDeadline: 15 * time.Second, RetryPeriod: 3 * time.Second,
		},
		Drift: Drift{Enabled: new(false), Workers: 2, ContestCorrections: 5, ContestWindow: 5 * time.Minute,
			ContestBackoff: time.Minute, ContestMaxBackoff: 30 * time.Minute},
		CacheDir: "/var/cache/carina-test",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

func TestParseMinimalFileGetsDefaults(t *testing.T) {
	got, err := Parse("carina.yaml", []byte(`
sources:
  apps: [{name: demo, url: "https://git.example.com/demo.git"}]
clusters: [{name: staging, kubeconfig: {file: /kube/config}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := Reconcile{
		Workers: DefaultWorkers, PollInterval: DefaultPollInterval, Resync: DefaultResync,
		ItemTimeout: DefaultItemTimeout, StepTimeout: DefaultStepTimeout, MinBackoff: DefaultMinBackoff,
		MaxBackoff: DefaultMaxBackoff, History: DefaultHistory, ShutdownTimeout: DefaultShutdownTimeout,
	}
	if diff := cmp.Diff(want, got.Reconcile); diff != "" {
		t.Errorf("reconcile defaults (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{DefaultListen, "staging", DefaultLeaseNamespace, DefaultCacheDir},
		[]string{got.Server.Listen, got.LeaderElection.Cluster, got.LeaderElection.Namespace, got.CacheDir}); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if !got.LeaderElection.On() {
		t.Error("leader election is off by default, want on")
	}
	wantDrift := Drift{Workers: DefaultDriftWorkers, ContestCorrections: DefaultContestCount, ContestWindow: DefaultContestWindow,
		ContestBackoff: DefaultContestBackoff, ContestMaxBackoff: DefaultContestMax}
	if diff := cmp.Diff(wantDrift, got.Drift); diff != "" || !got.Drift.On() {
		t.Errorf("drift defaults (on: %v) (-want +got):\n%s", got.Drift.On(), diff)
	}
	if p := got.Sources.Apps[0].Prune; p == nil || !*p || !got.Sources.Apps[0].Prunes() {
		t.Errorf("sources.apps[0].prune = %v, want true by default", p)
	}
}

// TestParseReportsEveryProblemWithPosition checks each bad input gives
// exactly the listed problems, all at once, in file order.
func TestParseReportsEveryProblemWithPosition(t *testing.T) {
	const base = "sources:\n  apps: [{name: demo, url: \"https://git.example.com/demo.git\"}]\nclusters: [{name: c1, inCluster: true}]\n"
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{
			name: "unknown keys at every level",
			in: "sources:\n  apps:\n    - name: demo\n      url: https://git.example.com/demo.git\n      brnch: main\n" +
				"clusters:\n  - name: c1\n    inCluster: true\n    kubecontext: x\nserver:\n  listen: \":80\"\n  tls: true\nbogus: 1\n",
			want: []string{
				`f.yaml:5: unknown field "brnch"`,
				`f.yaml:9: unknown field "kubecontext"`,
				`f.yaml:12: unknown field "tls"`,
				`f.yaml:13: unknown field "bogus"`,
			},
		},
		{
			name: "wrong types",
			in:   base + "reconcile:\n  workers: many\n  resync: often\nlimits:\n  fetch: {maxBytes: huge}\n",
			want: []string{
				`f.yaml:5: a str value cannot be a number`,
				`f.yaml:6: a str value cannot be a duration (like 30s or 5m)`,
				`f.yaml:8: size "huge" is not a non-negative integer with an optional Ki, Mi or Gi suffix`,
			},
		},
		{
			name: "semantic problems",
			in: "sources:\n  apps:\n    - name: Demo\n      url: https://user:pw@git.example.com/demo.git\n" +
				"clusters:\n  - name: c1\n  - name: c1\n    inCluster: true\n    kubeconfig: {file: /k}\n" +
				"webhooks:\n  - provider: gogs\n    secretFile: /s\n  - provider: github\n" +
				"server:\n  debugAddr: 0.0.0.0:6060\n  api: {allowWrites: true}\n",
			want: []string{
				`f.yaml:3:7: sources.apps[0]: invalid source reference: repository URL carries credentials; use auth.usernameFile/passwordFile instead`,
				`f.yaml:3:7: sources.apps[0].name: name "Demo" must be a DNS-1123 label (lower-case letters, digits and '-', at most 63)`,
				`f.yaml:6:5: clusters[0]: set exactly one of kubeconfig, inCluster and secret`,
				`f.yaml:7:5: clusters[1]: set exactly one of kubeconfig, inCluster and secret`,
				`f.yaml:7:5: clusters[1].name: cluster "c1" is defined twice`,
				`f.yaml:11:5: webhooks[0].provider: provider "gogs" is not one of github, gitlab, gitea, bitbucket-cloud, bitbucket-server, generic, distribution, registry-generic`,
				`f.yaml:13:5: webhooks[1]: set exactly one of secretFile and secretEnv: a signature is always required`,
				`f.yaml:15:3: server.debugAddr: address "0.0.0.0:6060" must be a loopback host:port, like 127.0.0.1:6060`,
				`f.yaml:16:9: server.api.allowWrites: writes need a bearer token (tokenFile or tokenEnv)`,
			},
		},
		{
			name: "prune on a capability source",
			in: "sources:\n  apps: [{name: demo, url: \"https://git.example.com/demo.git\", prune: false}]\n" +
				"  capabilities:\n    - name: defs\n      url: https://git.example.com/defs.git\n      prune: true\n" +
				"clusters: [{name: c1, inCluster: true}]\n",
			want: []string{`f.yaml:6:7: sources.capabilities[0].prune: prune applies to application sources only`},
		},
		{
			name: "strict on a capability source",
			in: "sources:\n  apps: [{name: demo, url: \"https://git.example.com/demo.git\", strict: true}]\n" +
				"  capabilities:\n    - name: defs\n      url: https://git.example.com/defs.git\n      strict: true\n" +
				"clusters: [{name: c1, inCluster: true}]\n",
			want: []string{`f.yaml:6:7: sources.capabilities[0].strict: strict applies to application sources only (their apps' renders)`},
		},
		{
			name: "mass-deletion guard out of range",
			in: "sources:\n  apps:\n    - name: demo\n      url: https://git.example.com/demo.git\n      maxPruneFraction: 1.5\n" +
				"  capabilities:\n    - name: defs\n      url: https://git.example.com/defs.git\n      allowEmpty: true\n" +
				"clusters: [{name: c1, inCluster: true}]\n",
			want: []string{
				`f.yaml:5:7: sources.apps[0].maxPruneFraction: must be more than 0 and at most 1, got 1.5`,
				`f.yaml:9:7: sources.capabilities[0].allowEmpty: the mass-deletion guard applies to application sources only`,
			},
		},
		{
			name: "forge problems",
			in: "sources:\n  apps:\n    - name: demo\n      url: https://git.example.com/demo.git\n      forge: {kind: gitea, statusURL: \"ftp://x\"}\n" +
				"clusters: [{name: c1, inCluster: true}]\n",
			want: []string{
				`f.yaml:5:7: sources.apps[0].forge.apiURL: a gitea forge needs its API URL, like https://git.example.com/api/v1`,
				`f.yaml:5:7: sources.apps[0].forge.repo: set repo (owner/name): the source URL "https://git.example.com/demo.git" has no owner/name path`,
				`f.yaml:5:7: sources.apps[0].forge.tokenFile: a token file is required`,
				`f.yaml:5:28: sources.apps[0].forge.statusURL: "ftp://x" is not an http(s) URL without credentials`,
			},
		},
		{
			name: "nothing configured",
			in:   "",
			want: []string{
				`f.yaml: clusters: at least one cluster is required`,
				`f.yaml: sources.apps: at least one application source is required`,
			},
		},
		{
			name: "two documents",
			in:   base + "---\nfoo: 1\n",
			want: []string{`f.yaml:4:1: the file must hold one YAML document`},
		},
		{
			name: "duplicate key",
			in:   base + "cacheDir: /a\ncacheDir: /b\n",
			want: []string{`f.yaml:5: mapping key "cacheDir" already defined at line 4`},
		},
		{
			name: "syntax error",
			in:   "sources: [\n",
			want: []string{`f.yaml:1: did not find expected node content`},
		},
		{
			name: "secret and lease references",
			in: "sources:\n  apps: [{name: demo, url: \"https://git.example.com/demo.git\"}]\n" +
				"clusters:\n  - {name: c1, inCluster: true}\n  - name: c2\n    secret: {cluster: nowhere, name: k}\n" +
				"leaderElection: {cluster: gone, leaseDuration: 5s, renewDeadline: 10s}\n",
			want: []string{
				`f.yaml:6:5: clusters[1].secret: a namespace is required`,
				`f.yaml:6:14: clusters[1].secret.cluster: cluster "nowhere" is not defined`,
				`f.yaml:7:18: leaderElection.cluster: cluster "gone" is not defined`,
				`f.yaml:7:33: leaderElection.leaseDuration: 5s is outside [12s, 5m0s]`,
			},
		},
		{
			name: "egress ranges that do not parse",
			in:   base + "egress:\n  denyCIDRs: [10.0.0.0/8, 10.0.0.0/33]\n  allowCIDRs: [metadata.internal]\n",
			want: []string{
				`f.yaml:5:27: egress.denyCIDRs[1]: "10.0.0.0/33" is not a CIDR range (like 10.0.0.0/8) or an IP address`,
				`f.yaml:6:16: egress.allowCIDRs[0]: "metadata.internal" is not a CIDR range (like 10.0.0.0/8) or an IP address`,
			},
		},
		{
			name: "drift out of range",
			in:   base + "drift: {workers: 100, contestCorrections: 500, contestBackoff: 1m, contestMaxBackoff: 10s}\n",
			want: []string{
				`f.yaml:4:9: drift.workers: 100 is outside [1, 64]`,
				`f.yaml:4:23: drift.contestCorrections: 500 is outside [1, 100]`,
				`f.yaml:4:68: drift.contestMaxBackoff: 10s is outside [1m0s, 24h0m0s]`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("f.yaml", []byte(tt.in))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", cfg)
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error %T is not an ErrorList: %v", err, err)
			}
			got := strings.Split(err.Error(), "\n")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseRefusesLargeFile(t *testing.T) {
	_, err := Parse("big.yaml", make([]byte, MaxFileBytes+1))
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v, want a size error", err)
	}
}

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		ok   bool
	}{
		{"1048576", 1 << 20, true},
		{"512Ki", 512 << 10, true},
		{"64Mi", 64 << 20, true},
		{"2Gi", 2 << 30, true},
		{"-1", 0, false},
		{"1.5Mi", 0, false},
		{"9999999999Gi", 0, false},
		{"MB", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseByteSize(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("ParseByteSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}
