package forge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxTokenBytes bounds the token file.
const maxTokenBytes = 64 << 10

// readToken reads the token file. Errors name the file, never its content.
func readToken(path string) (string, error) {
	if path == "" {
		return "", errors.New("forge tokenFile is not set")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("forge token: cannot open %s", path)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return "", fmt.Errorf("forge token: %s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTokenBytes+1))
	if err != nil {
		return "", fmt.Errorf("forge token: cannot read %s", path)
	}
	if len(b) > maxTokenBytes {
		return "", fmt.Errorf("forge token: %s is larger than %d bytes", path, maxTokenBytes)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" || strings.ContainsAny(tok, "\r\n") {
		return "", fmt.Errorf("forge token: %s must hold one non-empty line", path)
	}
	return tok, nil
}

// APIError is a forge's answer outside 2xx. Its text holds the method,
// the path (no query), the status and the forge's message, never a
// credential.
type APIError struct {
	Method, Path string
	StatusCode   int
	Message      string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("forge %s %s: %d %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// ErrNotFound matches an APIError with status 404.
var ErrNotFound = errors.New("not found")

// Is makes errors.Is(err, ErrNotFound) work.
func (e *APIError) Is(target error) bool {
	return target == ErrNotFound && e.StatusCode == http.StatusNotFound
}

// rest is the HTTP side shared by the three forges: auth header, limits,
// JSON, errors without credentials.
type rest struct {
	client  *http.Client
	base    *url.URL
	token   string
	auth    func(h http.Header, token string)
	maxBody int64
	pages   int
}

func newHTTP(opts Options, base *url.URL, token string) *rest {
	var tr http.RoundTripper
	switch t := opts.Transport.(type) {
	case nil:
		tr = opts.Egress.Transport(nil)
	case *http.Transport:
		tr = opts.Egress.Transport(t)
	default:
		tr = t
	}
	r := &rest{base: base, token: token, maxBody: opts.MaxResponseBytes, pages: opts.MaxPages}
	r.client = &http.Client{Transport: tr, Timeout: opts.Timeout, CheckRedirect: r.checkRedirect}
	switch opts.Kind {
	case GitHub:
		r.auth = func(h http.Header, t string) {
			h.Set("Authorization", "Bearer "+t)
			h.Set("Accept", "application/vnd.github+json")
			h.Set("X-GitHub-Api-Version", "2022-11-28")
		}
	case GitLab:
		r.auth = func(h http.Header, t string) { h.Set("PRIVATE-TOKEN", t) }
	default:
		r.auth = func(h http.Header, t string) { h.Set("Authorization", "token "+t) }
	}
	return r
}

// checkRedirect never sends the token to another host.
func (r *rest) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 3 {
		return errors.New("too many redirects")
	}
	if req.URL.Host != r.base.Host || req.URL.Scheme != r.base.Scheme {
		return errors.New("redirect to another host refused")
	}
	return nil
}

// do sends method to path (relative to the base, may carry a query), with
// in as the JSON body, and decodes a 2xx answer into out. It returns the
// response headers for pagination.
func (r *rest) do(ctx context.Context, method, path string, in, out any) (http.Header, error) {
	return r.send(ctx, method, r.base.String()+path, path, in, out)
}

// doAtRoot is do with a path from the root of the base's host instead of
// the API base: GitHub Enterprise serves GraphQL at /api/graphql, beside
// its REST base /api/v3.
func (r *rest) doAtRoot(ctx context.Context, method, path string, in, out any) (http.Header, error) {
	u := *r.base
	u.Path, u.RawPath = path, ""
	return r.send(ctx, method, u.String(), path, in, out)
}

// send is do with the full URL; path is what errors show of it.
func (r *rest) send(ctx context.Context, method, fullURL, path string, in, out any) (http.Header, error) {
	shown, _, _ := strings.Cut(path, "?")
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("forge %s %s: %w", method, shown, err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, fullURL, body)
	if err != nil {
		return nil, fmt.Errorf("forge %s %s: request does not build", method, shown)
	}
	r.auth(req.Header, r.token)
	req.Header.Set("User-Agent", "carina")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("forge %s %s: %w", method, shown, r.scrub(transportErr(err)))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, r.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("forge %s %s: reading the answer: %w", method, shown, r.scrub(transportErr(err)))
	}
	if int64(len(data)) > r.maxBody {
		return nil, fmt.Errorf("forge %s %s: answer is larger than %d bytes", method, shown, r.maxBody)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &APIError{Method: method, Path: shown, StatusCode: resp.StatusCode, Message: r.message(data)}
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("forge %s %s: answer is not the expected JSON: %w", method, shown, err)
		}
	}
	return resp.Header, nil
}

// transportErr drops the URL from a *url.Error (its query is not shown).
func transportErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// scrub returns err's text with the token removed, as a new error that
// still answers errors.Is for cancellation and deadlines.
func (r *rest) scrub(err error) error {
	msg := strings.ReplaceAll(err.Error(), r.token, "***")
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", msg, context.DeadlineExceeded)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", msg, context.Canceled)
	}
	return errors.New(msg)
}

// message extracts a short, token-free message from an error body.
func (r *rest) message(data []byte) string {
	var m struct {
		Message any    `json:"message"`
		Error   string `json:"error"`
	}
	var msg string
	if json.Unmarshal(data, &m) == nil {
		switch v := m.Message.(type) {
		case string:
			msg = v
		case nil:
			msg = m.Error
		default:
			b, _ := json.Marshal(v)
			msg = string(b)
		}
	}
	return r.tidy(msg)
}

// tidy makes a forge's message fit for an error: one line, at most 300
// bytes, without the token.
func (r *rest) tidy(msg string) string {
	msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, r.token, "***")), " ")
	return clipRunes(msg, 300)
}

// list reads every page of a listing into a slice, following the
// forge's page numbers until a short or empty page, up to the page limit.
func list[T any](ctx context.Context, r *rest, path string, perPage int) ([]T, error) {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	var all []T
	for page := 1; page <= r.pages; page++ {
		var items []T
		p := path + sep + "page=" + strconv.Itoa(page)
		if _, err := r.do(ctx, http.MethodGet, p, nil, &items); err != nil {
			return nil, err
		}
		all = append(all, items...)
		if len(items) < perPage {
			return all, nil
		}
	}
	return all, nil
}

func clipRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
