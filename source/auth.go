package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// maxSecretBytes bounds every credential file.
const maxSecretBytes = 64 << 10

// Auth names where the credentials of a repository live: files (mounted
// Secrets) or environment variables. It never holds a credential itself,
// and the values read from these places are never printed, logged or put
// in errors.
//
// HTTPS uses basic auth (Username or UsernameFile, with PasswordFile or
// PasswordEnv) or a bearer token (BearerTokenFile or BearerTokenEnv), and
// trusts CAFile in addition to the system roots. SSH uses SSHKeyFile and
// checks the server strictly against KnownHostsFile.
type Auth struct {
	// Username is the HTTPS user name, or the SSH user when the URL has
	// none. It is not secret.
	Username string `json:"username,omitempty"`
	// UsernameFile holds the HTTPS user name.
	UsernameFile string `json:"usernameFile,omitempty"`
	// PasswordFile holds the HTTPS password or access token.
	PasswordFile string `json:"passwordFile,omitempty"`
	// PasswordEnv names the environment variable with the password.
	PasswordEnv string `json:"passwordEnv,omitempty"`
	// BearerTokenFile holds a token sent as "Authorization: Bearer".
	BearerTokenFile string `json:"bearerTokenFile,omitempty"`
	// BearerTokenEnv names the environment variable with the bearer token.
	BearerTokenEnv string `json:"bearerTokenEnv,omitempty"`
	// SSHKeyFile holds the SSH private key (OpenSSH or PEM format).
	SSHKeyFile string `json:"sshKeyFile,omitempty"`
	// SSHKeyPassphraseFile holds the passphrase of an encrypted SSH key.
	SSHKeyPassphraseFile string `json:"sshKeyPassphraseFile,omitempty"`
	// KnownHostsFile is required for SSH; unknown or changed host keys are
	// refused.
	KnownHostsFile string `json:"knownHostsFile,omitempty"`
	// CAFile holds PEM certificates trusted for HTTPS besides the system
	// roots.
	CAFile string `json:"caFile,omitempty"`
}

func (a Auth) validate() error {
	pw := a.PasswordFile != "" || a.PasswordEnv != ""
	tok := a.BearerTokenFile != "" || a.BearerTokenEnv != ""
	if pw && tok {
		return fmt.Errorf("%w: auth sets both a password and a bearer token", ErrInvalidRef)
	}
	if a.PasswordFile != "" && a.PasswordEnv != "" || a.BearerTokenFile != "" && a.BearerTokenEnv != "" {
		return fmt.Errorf("%w: auth names a secret both as a file and an environment variable", ErrInvalidRef)
	}
	if a.Username != "" && a.UsernameFile != "" {
		return fmt.Errorf("%w: auth sets both username and usernameFile", ErrInvalidRef)
	}
	return nil
}

// configured lists which credential sources are set, without values.
func (a Auth) configured() []string {
	var out []string
	add := func(name, v string) {
		if v != "" {
			out = append(out, name)
		}
	}
	add("username", a.Username)
	add("usernameFile", a.UsernameFile)
	add("passwordFile", a.PasswordFile)
	add("passwordEnv", a.PasswordEnv)
	add("bearerTokenFile", a.BearerTokenFile)
	add("bearerTokenEnv", a.BearerTokenEnv)
	add("sshKeyFile", a.SSHKeyFile)
	add("sshKeyPassphraseFile", a.SSHKeyPassphraseFile)
	add("knownHostsFile", a.KnownHostsFile)
	add("caFile", a.CAFile)
	return out
}

// String names the configured credential sources and nothing else.
func (a Auth) String() string {
	c := a.configured()
	if len(c) == 0 {
		return "auth(none)"
	}
	return "auth(" + strings.Join(c, ",") + ")"
}

// LogValue makes slog print only which credential sources are set.
func (a Auth) LogValue() slog.Value { return slog.StringValue(a.String()) }

// credentials are the values read from an Auth for one fetch. They live
// only as long as the fetch.
type credentials struct {
	username   string
	password   string
	token      string
	sshKey     []byte
	passphrase string
	knownHosts string
	caBundle   []byte
}

func (c credentials) String() string { return "credentials(redacted)" }

// LogValue keeps credentials out of logs even if someone logs them.
func (c credentials) LogValue() slog.Value { return slog.StringValue("credentials(redacted)") }

// secrets lists the secret values, to scrub them from error text.
func (c credentials) secrets() []string {
	return []string{c.password, c.token, c.passphrase}
}

// load reads the credentials. Errors name the file or variable, never the
// value.
func (a Auth) load() (credentials, error) {
	var c credentials
	var errs []error
	read := func(dst *string, file, env, what string) {
		switch {
		case file != "":
			b, err := readSecret(file)
			if err != nil {
				errs = append(errs, fmt.Errorf("auth %s: %w", what, err))
				return
			}
			*dst = strings.TrimRight(string(b), "\r\n")
		case env != "":
			v, ok := os.LookupEnv(env)
			if !ok {
				errs = append(errs, fmt.Errorf("auth %s: environment variable %s is not set", what, env))
				return
			}
			*dst = v
		}
	}
	c.username = a.Username
	read(&c.username, a.UsernameFile, "", "usernameFile")
	read(&c.password, a.PasswordFile, a.PasswordEnv, "password")
	read(&c.token, a.BearerTokenFile, a.BearerTokenEnv, "bearer token")
	read(&c.passphrase, a.SSHKeyPassphraseFile, "", "sshKeyPassphraseFile")
	if a.SSHKeyFile != "" {
		b, err := readSecret(a.SSHKeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("auth sshKeyFile: %w", err))
		}
		c.sshKey = b
	}
	if a.CAFile != "" {
		b, err := readSecret(a.CAFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("auth caFile: %w", err))
		}
		c.caBundle = b
	}
	c.knownHosts = a.KnownHostsFile
	return c, errors.Join(errs...)
}

// readSecret reads at most maxSecretBytes from path. Its errors name the
// path only.
func readSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s", path)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s", path)
	}
	if len(b) > maxSecretBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxSecretBytes)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return b, nil
}
