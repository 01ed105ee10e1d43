package config

import (
	"context"
	"errors"
	"fmt"

	"github.com/carina-gitops/carina/render/helm"
	"github.com/carina-gitops/carina/render/sops"
	"github.com/carina-gitops/carina/source"
)

// defaultAgeKey is the Secret key of the age identities when
// decryption.secret.key is empty (Flux's name for it).
const defaultAgeKey = "age.agekey"

// DecryptionKeys reads the source's SOPS age keys: from decryption.keyFile,
// or from the Secret through read, in homeCluster (the leader-election
// cluster). It returns nil without a decryption section. Errors name the
// file or Secret, never a key.
func (s Source) DecryptionKeys(ctx context.Context, read SecretReader, homeCluster string) (*sops.Keys, error) {
	d := s.Decryption
	if d == nil {
		return nil, nil
	}
	var data []byte
	var err error
	where := d.KeyFile
	if d.KeyFile != "" {
		data, err = ReadSecret(d.KeyFile, "")
	} else {
		key := d.Secret.Key
		if key == "" {
			key = defaultAgeKey
		}
		where = fmt.Sprintf("Secret %s/%s key %s", d.Secret.Namespace, d.Secret.Name, key)
		if read == nil {
			return nil, fmt.Errorf("source %s decryption: no client to read %s", s.Name, where)
		}
		data, err = read(ctx, homeCluster, d.Secret.Namespace, d.Secret.Name, key)
	}
	if err != nil {
		return nil, fmt.Errorf("source %s decryption keys: %w", s.Name, err)
	}
	keys, err := sops.ParseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("source %s decryption keys in %s: %w", s.Name, where, err)
	}
	return keys, nil
}

// HelmCredentials reads the credentials of the source's helmRepositories,
// from auth's files and variables or from each Secret (keys "username",
// "password", "token", "ca.crt") in homeCluster, for helm.Options.
func (s Source) HelmCredentials(ctx context.Context, read SecretReader, homeCluster string) ([]helm.Credential, error) {
	var out []helm.Credential
	var errs []error
	for i, r := range s.HelmRepositories {
		c := helm.Credential{URL: r.URL, Insecure: r.Insecure}
		var err error
		if r.Secret != nil {
			err = fromSecret(ctx, read, homeCluster, r.Secret, &c)
		} else {
			var hc source.HTTPCredentials
			if hc, err = source.Auth(r.Auth).LoadHTTP(); err == nil {
				c.Username, c.Password, c.Token, c.CAData = hc.Username, hc.Password, hc.Token, hc.CABundle
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("source %s helmRepositories[%d] %s: %w", s.Name, i, source.Redact(r.URL), err))
			continue
		}
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

// fromSecret fills c from a Secret: a token, or a user name and password,
// and an optional CA.
func fromSecret(ctx context.Context, read SecretReader, cluster string, s *SecretName, c *helm.Credential) error {
	if read == nil {
		return fmt.Errorf("no client to read Secret %s/%s", s.Namespace, s.Name)
	}
	get := func(key string) string {
		b, err := read(ctx, cluster, s.Namespace, s.Name, key)
		if err != nil {
			return ""
		}
		return string(b)
	}
	c.Token = get("token")
	if c.Token == "" {
		c.Username, c.Password = get("username"), get("password")
		if c.Password == "" {
			return fmt.Errorf("secret %s/%s holds neither a token nor a password", s.Namespace, s.Name)
		}
	}
	if ca := get("ca.crt"); ca != "" {
		c.CAData = []byte(ca)
	}
	return nil
}
