package config

// Verify requires a cosign signature made with a key.
type Verify struct {
	// PublicKeyFile is the PEM public key (cosign.pub).
	PublicKeyFile string `yaml:"publicKeyFile"`
}

// Decryption names the SOPS age keys of a source: a file, or a key of a
// Secret in the leader-election cluster (the agent's home cluster).
// Exactly one is set.
type Decryption struct {
	// Provider is "sops", the only one.
	Provider string `yaml:"provider"`
	// KeyFile holds age identities (AGE-SECRET-KEY-1...), one a line.
	KeyFile string `yaml:"keyFile"`
	// Secret holds them in one key of a Secret.
	Secret *SecretKey `yaml:"secret"`
}

// SecretKey is one key of a Secret in the agent's home cluster.
type SecretKey struct {
	Namespace string `yaml:"namespace"`
	Name      string `yaml:"name"`
	// Key in the Secret's data; "age.agekey" by default for decryption.
	Key string `yaml:"key"`
}

// HelmRepository holds the credentials of one chart repository. They are
// sent to its host only, never after a redirect to another host.
type HelmRepository struct {
	// URL is the repository: "https://charts.example.com/stable", or
	// "oci://registry.example.com/charts" for an OCI registry (a prefix
	// of the charts' references).
	URL string `yaml:"url"`
	// Auth names the credential files or environment variables (user
	// name, password or bearer token) and the CA file.
	Auth Auth `yaml:"auth"`
	// Secret reads the user name, password and CA from a Secret of the
	// agent's home cluster (keys "username", "password", "token",
	// "ca.crt"), instead of Auth's files.
	Secret *SecretName `yaml:"secret"`
	// Insecure allows plain HTTP (an OCI registry without TLS).
	Insecure bool `yaml:"insecure"`
}

// SecretName names a Secret of the agent's home cluster.
type SecretName struct {
	Namespace string `yaml:"namespace"`
	Name      string `yaml:"name"`
}

// IsOCI reports whether the source is an OCI artifact (oci://).
func (s Source) IsOCI() bool { return len(s.URL) > 6 && s.URL[:6] == "oci://" }
