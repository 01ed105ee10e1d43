package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/appfile"
	"github.com/carina-gitops/carina/apply"
	"github.com/carina-gitops/carina/capabilities"
	"github.com/carina-gitops/carina/render"
	"github.com/carina-gitops/carina/render/helm"
	"github.com/carina-gitops/carina/render/sops"
)

// errSourceSecrets marks a render that could not start because its
// source's SOPS keys or chart repository credentials could not be read
// (a Secret missing or unreadable): transient, since the Secret may
// appear without any change in Git.
var errSourceSecrets = errors.New("source secrets unavailable")

// secretsTTL is how long the keys and credentials read for a source are
// used before they are read again, so that a rotated Secret is picked up
// without a restart.
const secretsTTL = time.Minute

// sourceSecrets reads, per app source, what its renders need from
// outside Git: its SOPS age keys and the credentials of its private
// chart repositories, from files or from Secrets of the leader-election
// cluster. A source only ever gets its own.
type sourceSecrets struct {
	cfg  *config.Config
	read config.SecretReader
	now  func() time.Time

	mu    sync.Mutex
	cache map[string]*secretsEntry
}

type secretsEntry struct {
	keys  *sops.Keys
	creds []helm.Credential
	at    time.Time
}

func newSourceSecrets(cfg *config.Config, read config.SecretReader, now func() time.Time) *sourceSecrets {
	return &sourceSecrets{cfg: cfg, read: read, now: now, cache: map[string]*secretsEntry{}}
}

// renderOptions returns base with the decryption keys and chart
// credentials of source src. Decryption is always on: a source without
// keys has none, so a SOPS value in its render is an error ("no
// configured key") instead of ciphertext applied to a cluster.
func (s *sourceSecrets) renderOptions(ctx context.Context, src string, base render.Options) (render.Options, error) {
	e, err := s.entry(ctx, src)
	if err != nil {
		return base, err
	}
	opts := base
	opts.Decryption = &render.Decryption{Keys: e.keys}
	if len(e.creds) > 0 {
		opts.Engines.Helm.Credentials = append(append([]helm.Credential(nil), base.Engines.Helm.Credentials...), e.creds...)
	}
	return opts, nil
}

func (s *sourceSecrets) entry(ctx context.Context, src string) (*secretsEntry, error) {
	now := s.now()
	s.mu.Lock()
	e := s.cache[src]
	s.mu.Unlock()
	if e != nil && now.Sub(e.at) < secretsTTL {
		return e, nil
	}
	var cfg *config.Source
	for i := range s.cfg.Sources.Apps {
		if s.cfg.Sources.Apps[i].Name == src {
			cfg = &s.cfg.Sources.Apps[i]
		}
	}
	if cfg == nil {
		return nil, errNoSource(src)
	}
	home := s.cfg.LeaderElection.Cluster
	keys, kerr := cfg.DecryptionKeys(ctx, s.read, home)
	creds, cerr := cfg.HelmCredentials(ctx, s.read, home)
	if err := errors.Join(kerr, cerr); err != nil {
		return nil, fmt.Errorf("%w: %w", errSourceSecrets, err)
	}
	e = &secretsEntry{keys: keys, creds: creds, at: now}
	s.mu.Lock()
	s.cache[src] = e
	s.mu.Unlock()
	return e, nil
}

// renderDecrypted renders with r and makes sure the SOPS values of the
// result are decrypted: render.Isolated decrypts in its worker (then
// res.Decrypted is set, or nothing held a ciphertext); an in-process
// renderer does not, and the result is decrypted here, in memory. On a
// decryption error nothing of the render is returned.
func renderDecrypted(ctx context.Context, r Renderer, app *appfile.Application, env appfile.Environment, reg *capabilities.Registry, fsys fs.FS, opts render.Options) (*render.Result, error) {
	res, err := r.Render(ctx, app, env, reg, fsys, opts)
	if err != nil || opts.Decryption == nil || len(res.Decrypted) > 0 {
		return res, err
	}
	if err := render.Decrypt(ctx, res, fsys, opts.Decryption); err != nil {
		return nil, err
	}
	return res, nil
}

// isMissingKey says whether err is a SOPS file that none of the source's
// keys opens. It is transient: a key added to the source's Secret fixes
// it with no change in Git. The text is tested because a render worker's
// errors cross the process boundary as text.
func isMissingKey(err error) bool {
	return errors.Is(err, sops.ErrNoKey) || strings.Contains(err.Error(), sops.ErrNoKey.Error())
}

// plaintexts keeps the decrypted values of the last render of each
// (app, env), so that the errors and messages of its apply, health,
// drift watch and drift corrections can be redacted before they reach a
// log, the status, an Event or a metric: the API server may quote an
// invalid value back. It holds values, never writes them anywhere.
type plaintexts struct {
	mu    sync.Mutex
	byEnv map[envKey][]string
	all   []string
}

func newPlaintexts() *plaintexts { return &plaintexts{byEnv: map[envKey][]string{}} }

// set records the decrypted values of res for (app, env).
func (p *plaintexts) set(app, env string, res *render.Result) {
	var vals []string
	if len(res.Decrypted) > 0 {
		objs := make([]map[string]any, len(res.Objects))
		for i, o := range res.Objects {
			objs[i] = o.Object.Object
		}
		vals = sops.NewMasker(res.Decrypted).Plaintexts(objs)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	k := envKey{app, env}
	if len(vals) == 0 && len(p.byEnv[k]) == 0 {
		return
	}
	if len(vals) == 0 {
		delete(p.byEnv, k)
	} else {
		p.byEnv[k] = vals
	}
	p.all = p.all[:0:0]
	for _, v := range p.byEnv {
		p.all = append(p.all, v...)
	}
}

// text redacts every known plaintext from s.
func (p *plaintexts) text(s string) string {
	p.mu.Lock()
	all := p.all
	p.mu.Unlock()
	if len(all) == 0 {
		return s
	}
	return sops.Redact(s, all)
}

// err returns err with every known plaintext redacted from its text; it
// still matches what err matched (errors.Is, errors.As).
func (p *plaintexts) err(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := p.text(msg); red != msg {
		return &redactedError{msg: red, err: err}
	}
	return err
}

// changeSet redacts the reasons and errors of a change set's entries in
// place.
func (p *plaintexts) changeSet(cs *apply.ChangeSet) {
	if cs == nil {
		return
	}
	for i := range cs.Entries {
		e := &cs.Entries[i]
		e.Reason, e.Err = p.text(e.Reason), p.err(e.Err)
	}
}

// health redacts the messages of a health report in place: a
// definition's custom status may quote a field of a live object.
func (p *plaintexts) health(rep *apply.HealthReport) {
	if rep == nil {
		return
	}
	for i := range rep.Objects {
		rep.Objects[i].Message = p.text(rep.Objects[i].Message)
	}
	for i := range rep.Components {
		rep.Components[i].Message = p.text(rep.Components[i].Message)
	}
}

// redactedError is an error whose text had plaintext removed.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
