package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// MaxSecretBytes bounds a secret read from a file or the environment.
const MaxSecretBytes = 64 << 10

// ReadSecret reads a secret from file, or else from the environment
// variable env. Surrounding white space is trimmed and an empty secret is
// an error. Errors name the file or variable, never the value.
func ReadSecret(file, env string) ([]byte, error) {
	var b []byte
	switch {
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("secret file %s cannot be opened: %w", file, unwrapPath(err))
		}
		defer f.Close()
		b, err = io.ReadAll(io.LimitReader(f, MaxSecretBytes+1))
		if err != nil {
			return nil, fmt.Errorf("secret file %s cannot be read: %w", file, unwrapPath(err))
		}
		if len(b) > MaxSecretBytes {
			return nil, fmt.Errorf("secret file %s is larger than %d bytes", file, MaxSecretBytes)
		}
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return nil, fmt.Errorf("secret environment variable %s is not set", env)
		}
		if len(v) > MaxSecretBytes {
			return nil, fmt.Errorf("secret environment variable %s is longer than %d bytes", env, MaxSecretBytes)
		}
		b = []byte(v)
	default:
		return nil, errors.New("secret names neither a file nor an environment variable")
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		where := file
		if where == "" {
			where = "environment variable " + env
		}
		return nil, fmt.Errorf("secret %s is empty", where)
	}
	return b, nil
}

// unwrapPath drops the path an *os.PathError repeats.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// CheckSecrets reads every secret and kubeconfig file the configuration
// names (webhook secrets, the API token, source credential files), to
// report a missing or empty one before the agent starts. It reports all
// problems at once.
func (c *Config) CheckSecrets() error {
	var errs []error
	for i, w := range c.Webhooks {
		if _, err := ReadSecret(w.SecretFile, w.SecretEnv); err != nil {
			errs = append(errs, fmt.Errorf("webhooks[%d]: %w", i, err))
		}
	}
	if a := c.Server.API; a.TokenFile != "" || a.TokenEnv != "" {
		if _, err := ReadSecret(a.TokenFile, a.TokenEnv); err != nil {
			errs = append(errs, fmt.Errorf("server.api: %w", err))
		}
	}
	for i, cl := range c.Clusters {
		if cl.Kubeconfig == nil {
			continue
		}
		if _, err := os.Stat(cl.Kubeconfig.File); err != nil {
			errs = append(errs, fmt.Errorf("clusters[%d]: kubeconfig %s: %w", i, cl.Kubeconfig.File, unwrapPath(err)))
		}
	}
	return errors.Join(errs...)
}
