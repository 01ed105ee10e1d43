package source

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// maxURLLen bounds a repository URL.
const maxURLLen = 2048

// repoURL is a parsed, checked repository URL.
type repoURL struct {
	// Scheme is https, http, ssh, git or file. An scp-like address
	// (git@host:org/repo) has Scheme ssh and SCP true.
	Scheme string
	// User is the SSH login name, if any. HTTP URLs never have one.
	User string
	Host string
	Port string
	// Path is the repository path; for scp-like addresses it is relative.
	Path string
	SCP  bool
}

// String returns the URL in a form go-git accepts.
func (u repoURL) String() string {
	if u.SCP {
		if u.User != "" {
			return u.User + "@" + u.Host + ":" + u.Path
		}
		return u.Host + ":" + u.Path
	}
	v := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	if u.Port != "" {
		v.Host = net.JoinHostPort(u.Host, u.Port)
	}
	if u.User != "" {
		v.User = url.User(u.User)
	}
	return v.String()
}

func unsafeURL(format string, args ...any) error {
	return fmt.Errorf("%w: repository URL %s", ErrInvalidRef, fmt.Sprintf(format, args...))
}

// CheckURL reports whether raw is a repository URL Carina will fetch from.
// It refuses file:// and local paths unless allowFile is set, git's
// transport::address forms (ext::, fd::), anything that begins with '-',
// credentials and query strings in the URL, and control characters. The
// error never repeats the URL.
func CheckURL(raw string, allowFile bool) error {
	_, err := parseRepoURL(raw, allowFile)
	return err
}

func parseRepoURL(raw string, allowFile bool) (repoURL, error) {
	switch {
	case raw == "":
		return repoURL{}, unsafeURL("is empty")
	case len(raw) > maxURLLen:
		return repoURL{}, unsafeURL("is longer than %d bytes", maxURLLen)
	case strings.HasPrefix(raw, "-"):
		return repoURL{}, unsafeURL("begins with '-'")
	case strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return repoURL{}, unsafeURL("contains spaces or control characters")
	}
	scheme := strings.Index(raw, "://")
	if i := strings.Index(raw, "::"); i >= 0 && (scheme < 0 || i < scheme) {
		return repoURL{}, unsafeURL("uses a git remote helper (transport::address); refused")
	}
	var u repoURL
	var err error
	if scheme >= 0 {
		u, err = parseSchemeURL(raw, allowFile)
	} else {
		u, err = parseSCP(raw, allowFile)
	}
	if err != nil {
		return repoURL{}, err
	}
	if strings.HasPrefix(u.Host, "-") || strings.HasPrefix(u.User, "-") {
		return repoURL{}, unsafeURL("has a host or user that begins with '-'")
	}
	if strings.HasPrefix(strings.TrimPrefix(u.Path, "/"), "-") {
		return repoURL{}, unsafeURL("has a path that begins with '-'")
	}
	return u, nil
}

func parseSchemeURL(raw string, allowFile bool) (repoURL, error) {
	v, err := url.Parse(raw)
	if err != nil {
		return repoURL{}, unsafeURL("does not parse")
	}
	u := repoURL{Scheme: strings.ToLower(v.Scheme), Host: v.Hostname(), Port: v.Port(), Path: v.Path}
	if v.RawQuery != "" || v.ForceQuery || v.Fragment != "" {
		return repoURL{}, unsafeURL("has a query string or fragment; put tokens in auth files instead")
	}
	if v.Opaque != "" {
		return repoURL{}, unsafeURL("is not hierarchical")
	}
	switch u.Scheme {
	case "https", "http", "git":
		if v.User != nil {
			return repoURL{}, unsafeURL("carries credentials; use auth.usernameFile/passwordFile instead")
		}
	case "ssh":
		if _, hasPass := v.User.Password(); hasPass {
			return repoURL{}, unsafeURL("carries a password; use an SSH key file instead")
		}
		u.User = v.User.Username()
	case "file":
		if !allowFile {
			return repoURL{}, unsafeURL("uses file://, which is allowed only for local development")
		}
		if v.User != nil || (u.Host != "" && u.Host != "localhost") || !strings.HasPrefix(u.Path, "/") {
			return repoURL{}, unsafeURL("must be file:///absolute/path")
		}
		u.Host = ""
		return u, nil
	default:
		return repoURL{}, unsafeURL("has unsupported scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return repoURL{}, unsafeURL("has no host")
	}
	if u.Path == "" || u.Path == "/" {
		return repoURL{}, unsafeURL("has no repository path")
	}
	return u, nil
}

// parseSCP parses git's scp-like syntax, [user@]host:path. An address
// without a colon, or with a slash before the colon, is a local path.
func parseSCP(raw string, allowFile bool) (repoURL, error) {
	colon := strings.Index(raw, ":")
	if colon < 0 || strings.Contains(raw[:colon], "/") {
		if !allowFile {
			return repoURL{}, unsafeURL("is a local path, which is allowed only for local development")
		}
		if !strings.HasPrefix(raw, "/") {
			return repoURL{}, unsafeURL("is a relative local path")
		}
		return repoURL{Scheme: "file", Path: raw}, nil
	}
	hostPart, path := raw[:colon], raw[colon+1:]
	u := repoURL{Scheme: "ssh", SCP: true, Path: path, Host: hostPart}
	if at := strings.LastIndex(hostPart, "@"); at >= 0 {
		u.User, u.Host = hostPart[:at], hostPart[at+1:]
	}
	if strings.ContainsAny(u.User, ":@") || strings.ContainsAny(u.Host, "@[]") {
		return repoURL{}, unsafeURL("carries credentials or is malformed")
	}
	if u.Host == "" || path == "" {
		return repoURL{}, unsafeURL("is an incomplete scp-like address")
	}
	return u, nil
}

// RepoKey returns a scheme-independent key for a repository URL, used to
// match webhook payloads to sources: lower-case host and path, without
// user, port, trailing slash or ".git". https://github.com/Org/App.git,
// git@github.com:org/app and ssh://git@github.com:22/org/app/ all give
// "github.com/org/app". It returns "" for a URL it cannot parse.
func RepoKey(raw string) string {
	raw = strings.TrimSpace(raw)
	var host, path string
	if i := strings.Index(raw, "://"); i >= 0 {
		v, err := url.Parse(raw)
		if err != nil {
			return ""
		}
		host, path = v.Hostname(), v.Path
		if strings.EqualFold(v.Scheme, "file") {
			host = "file"
		}
	} else {
		colon := strings.Index(raw, ":")
		if colon < 0 || strings.Contains(raw[:colon], "/") {
			return ""
		}
		host, path = raw[:colon], raw[colon+1:]
		if at := strings.LastIndex(host, "@"); at >= 0 {
			host = host[at+1:]
		}
	}
	path = strings.Trim(path, "/")
	path = strings.TrimSuffix(path, ".git")
	path = strings.Trim(path, "/")
	if host == "" || path == "" {
		return ""
	}
	return strings.ToLower(host + "/" + path)
}

var urlPattern = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.\-]*://[^\s"'<>` + "`" + `]+`)

// Redact removes user information (passwords, tokens, and user names of
// non-SSH URLs), query strings and fragments from every URL in s.
func Redact(s string) string {
	return urlPattern.ReplaceAllStringFunc(s, redactOne)
}

func redactOne(raw string) string {
	v, err := url.Parse(raw)
	if err != nil {
		// Cut what cannot be parsed at the first character that could
		// start user information or a query.
		if i := strings.IndexAny(raw, "@?#"); i >= 0 {
			return raw[:i] + "…"
		}
		return raw
	}
	if v.User != nil {
		if strings.EqualFold(v.Scheme, "ssh") {
			v.User = url.User(v.User.Username())
		} else {
			v.User = nil
		}
	}
	v.RawQuery, v.ForceQuery, v.Fragment, v.RawFragment = "", false, "", ""
	return v.String()
}
