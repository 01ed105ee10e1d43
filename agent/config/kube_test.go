package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const kubeconfigTmpl = `apiVersion: v1
kind: Config
current-context: main
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:6443
    insecure-skip-tls-verify: true
contexts:
- name: main
  context: {cluster: c, user: token}
- name: exec
  context: {cluster: c, user: exec}
- name: files
  context: {cluster: c, user: files}
users:
- name: token
  user: {token: abc}
- name: exec
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/true, interactiveMode: Never}
- name: files
  user: {client-certificate: /etc/passwd, client-key: /etc/shadow}
`

func TestKubeconfigREST(t *testing.T) {
	tests := []struct {
		name       string
		context    string
		allowExec  bool
		allowFiles bool
		wantErr    string
	}{
		{name: "current context with a token", allowFiles: true},
		{name: "exec refused", context: "exec", allowFiles: true, wantErr: ErrExecRefused.Error()},
		{name: "exec allowed", context: "exec", allowExec: true, allowFiles: true},
		{name: "files refused from a secret", context: "files", wantErr: "may not reference files"},
		{name: "unknown context", context: "nope", allowFiles: true, wantErr: `no context "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := KubeconfigREST([]byte(kubeconfigTmpl), tt.context, tt.allowExec, tt.allowFiles)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Host != "https://127.0.0.1:6443" {
				t.Errorf("host = %q", cfg.Host)
			}
		})
	}
}

func TestClusterRESTConfigFromSecretAndFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(file, []byte(kubeconfigTmpl), 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile := Cluster{Name: "a", Kubeconfig: &Kubeconfig{File: file}, QPS: 7, Burst: 9}
	cfg, err := fromFile.RESTConfig(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.QPS != 7 || cfg.Burst != 9 || cfg.BearerToken != "abc" {
		t.Errorf("config = qps %v burst %v token %q", cfg.QPS, cfg.Burst, cfg.BearerToken)
	}
	var asked []string
	read := func(_ context.Context, cluster, ns, name, key string) ([]byte, error) {
		asked = append(asked, cluster, ns, name, key)
		return []byte(kubeconfigTmpl), nil
	}
	fromSecret := Cluster{Name: "b", Secret: &SecretKubeconfig{Cluster: "a", Namespace: "ns", Name: "kc", Key: "value", Context: "exec"}}
	if _, err := fromSecret.RESTConfig(t.Context(), read); !errors.Is(err, ErrExecRefused) {
		t.Errorf("err = %v, want ErrExecRefused", err)
	}
	if got := strings.Join(asked, ","); got != "a,ns,kc,value" {
		t.Errorf("secret read as %s", got)
	}
}

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	empty := filepath.Join(dir, "empty")
	big := filepath.Join(dir, "big")
	os.WriteFile(good, []byte("  s3cret\n"), 0o600)
	os.WriteFile(empty, []byte("\n"), 0o600)
	os.WriteFile(big, make([]byte, MaxSecretBytes+1), 0o600)
	t.Setenv("CARINA_TEST_SECRET", "envsecret")
	tests := []struct {
		name, file, env, want, wantErr string
	}{
		{name: "file", file: good, want: "s3cret"},
		{name: "env", env: "CARINA_TEST_SECRET", want: "envsecret"},
		{name: "empty file", file: empty, wantErr: "is empty"},
		{name: "big file", file: big, wantErr: "larger than"},
		{name: "missing file", file: filepath.Join(dir, "none"), wantErr: "cannot be opened"},
		{name: "unset env", env: "CARINA_TEST_UNSET_SECRET", wantErr: "is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadSecret(tt.file, tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error leaks the secret: %v", err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("ReadSecret = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestCheckSecretsReportsAllMissing(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte(`
sources: {apps: [{name: a, url: "https://git.example.com/a.git"}]}
clusters: [{name: c, kubeconfig: {file: /nonexistent/kubeconfig}}]
webhooks: [{provider: github, secretFile: /nonexistent/secret}]
server: {api: {tokenEnv: CARINA_TEST_UNSET_TOKEN}}
`))
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.CheckSecrets()
	want := []string{
		"webhooks[0]: secret file /nonexistent/secret cannot be opened: no such file or directory",
		"server.api: secret environment variable CARINA_TEST_UNSET_TOKEN is not set",
		"clusters[0]: kubeconfig /nonexistent/kubeconfig: no such file or directory",
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("CheckSecrets = %v, want\n%s", err, strings.Join(want, "\n"))
	}
}
