package config

import (
	"context"
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ErrExecRefused marks a kubeconfig that runs an exec credential plugin or
// an auth provider while the cluster does not set allowExec.
var ErrExecRefused = errors.New("kubeconfig runs a credential plugin and the cluster does not set allowExec")

// SecretReader reads one key of a Secret; the agent passes a client of the
// home cluster (or of SecretKubeconfig.Cluster).
type SecretReader func(ctx context.Context, cluster, namespace, name, key string) ([]byte, error)

// RESTConfig builds the client configuration of the cluster: from its
// kubeconfig file and context, the in-cluster service account, or a
// kubeconfig held in a Secret (read with readSecret). A kubeconfig from a
// Secret may not reference files on the agent's disk.
func (c Cluster) RESTConfig(ctx context.Context, readSecret SecretReader) (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	switch {
	case c.Kubeconfig != nil:
		var data []byte
		data, err = os.ReadFile(c.Kubeconfig.File)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: kubeconfig %s: %w", c.Name, c.Kubeconfig.File, unwrapPath(err))
		}
		cfg, err = KubeconfigREST(data, c.Kubeconfig.Context, c.AllowExec, true)
	case c.InCluster:
		cfg, err = rest.InClusterConfig()
	case c.Secret != nil:
		s := c.Secret
		if readSecret == nil {
			return nil, fmt.Errorf("cluster %s: no client to read Secret %s/%s", c.Name, s.Namespace, s.Name)
		}
		var data []byte
		data, err = readSecret(ctx, s.Cluster, s.Namespace, s.Name, s.Key)
		if err == nil {
			cfg, err = KubeconfigREST(data, s.Context, c.AllowExec, false)
		}
	default:
		err = errors.New("no connection is configured")
	}
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	if c.QPS > 0 {
		cfg.QPS = c.QPS
	}
	if c.Burst > 0 {
		cfg.Burst = c.Burst
	}
	return cfg, nil
}

// KubeconfigREST builds a client configuration from kubeconfig bytes and a
// context ("" for the current one). Exec plugins and auth providers are
// refused unless allowExec; file references (certificates, keys, token
// files) are refused unless allowFiles.
func KubeconfigREST(data []byte, context string, allowExec, allowFiles bool) (*rest.Config, error) {
	raw, err := clientcmd.Load(data)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig cannot be parsed: %w", err)
	}
	name := context
	if name == "" {
		name = raw.CurrentContext
	}
	kctx, ok := raw.Contexts[name]
	if !ok {
		return nil, fmt.Errorf("kubeconfig has no context %q", name)
	}
	auth := raw.AuthInfos[kctx.AuthInfo]
	cl := raw.Clusters[kctx.Cluster]
	if cl == nil {
		return nil, fmt.Errorf("kubeconfig context %q names no known cluster", name)
	}
	if auth != nil && (auth.Exec != nil || auth.AuthProvider != nil) && !allowExec {
		return nil, fmt.Errorf("context %q: %w", name, ErrExecRefused)
	}
	if !allowFiles && referencesFiles(auth, cl) {
		return nil, fmt.Errorf("context %q: a kubeconfig from a Secret may not reference files", name)
	}
	cc := clientcmd.NewNonInteractiveClientConfig(*raw, name, &clientcmd.ConfigOverrides{}, nil)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("context %q: %w", name, err)
	}
	return cfg, nil
}

func referencesFiles(a *clientcmdapi.AuthInfo, c *clientcmdapi.Cluster) bool {
	if c.CertificateAuthority != "" {
		return true
	}
	return a != nil && (a.ClientCertificate != "" || a.ClientKey != "" || a.TokenFile != "")
}
