package source

import "log/slog"

// HTTPCredentials are the HTTPS credentials of an Auth, read for one
// request cycle by another source kind (OCI artifacts, chart
// repositories). They print as "redacted".
type HTTPCredentials struct {
	Username, Password, Token string
	// CABundle is the PEM content of Auth.CAFile, or nil.
	CABundle []byte
}

func (c HTTPCredentials) String() string { return "credentials(redacted)" }

// LogValue keeps the values out of logs.
func (c HTTPCredentials) LogValue() slog.Value { return slog.StringValue("credentials(redacted)") }

// Secrets lists the secret values, to scrub from error text.
func (c HTTPCredentials) Secrets() []string { return []string{c.Password, c.Token} }

// LoadHTTP validates a and reads its HTTPS credentials (user name,
// password or bearer token, and CA bundle). Errors name the file or
// variable, never the value; they match ErrInvalidRef for a
// contradictory Auth.
func (a Auth) LoadHTTP() (HTTPCredentials, error) {
	if err := a.validate(); err != nil {
		return HTTPCredentials{}, err
	}
	c, err := a.load()
	if err != nil {
		return HTTPCredentials{}, err
	}
	return HTTPCredentials{Username: c.username, Password: c.password, Token: c.token, CABundle: c.caBundle}, nil
}

// Validate reports a contradictory Auth (a password and a token, a
// secret named both as a file and a variable). Errors match ErrInvalidRef.
func (a Auth) Validate() error { return a.validate() }
