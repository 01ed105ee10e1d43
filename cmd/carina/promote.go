package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/carina-gitops/carina/agent/config"
	"github.com/carina-gitops/carina/source"
	"github.com/carina-gitops/carina/source/forge"
	"github.com/carina-gitops/carina/source/pin"
)

// promoteFlags are the flags of carina promote.
type promoteFlags struct {
	to, revision string
	openPR       bool
	// The app repository: from --config (and --source), or --repo.
	configFile, sourceName string
	repo, branch           string
	pinDir                 string
	gitUsername            string
	gitPasswordFile        string
	gitTokenFile           string
	gitSSHKeyFile          string
	gitKnownHostsFile      string
	// The forge, for --open-pr.
	forgeKind, forgeURL, forgeRepo, forgeTokenFile string
	timeout                                        time.Duration
}

func newPromoteCmd() *cobra.Command {
	var f promoteFlags
	cmd := &cobra.Command{
		Use:   "promote APP --to ENV [--revision SHA] [--open-pr]",
		Short: "Pin an environment to a revision through a commit on a new branch and a pull request",
		Long: `Promote writes environments/ENV.yaml ("revision: <commit>") of the app
repository as one commit on the branch carina/promote/APP-ENV, made from the
head of --branch, and pushes it with the repository's credentials (go-git; git
is never run). With --open-pr it opens a pull request into --branch through
the forge's API, or updates the one already open for that branch, with the
commits between the two revisions and a summary of the rendered objects that
change. Re-running never opens a second pull request.

The revision defaults to the head of --branch. The repository and its
credentials come from --config (the app source named by --source, or the only
one) or from --repo and the --git-* flags. The forge comes from that source's
forge: section; the --forge* flags override its fields.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			return runPromote(ctx, cmd.OutOrStdout(), args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.to, "to", "", "the environment to pin (required)")
	fl.StringVar(&f.revision, "revision", "", "the commit id or tag to pin (default: the head of --branch)")
	fl.BoolVar(&f.openPR, "open-pr", false, "open (or update) the pull request through the forge's API")
	fl.StringVar(&f.configFile, "config", "", "carina.yaml to read the app source from")
	fl.StringVar(&f.sourceName, "source", "", "the app source of --config (default: the only one)")
	fl.StringVar(&f.repo, "repo", "", "the app repository URL (instead of --config)")
	fl.StringVar(&f.branch, "branch", "", "the branch the pin lives on and the pull request goes into (default: the source's branch, else main)")
	fl.StringVar(&f.pinDir, "pin-dir", pin.DefaultDir, "directory of the pin files in the repository")
	fl.StringVar(&f.gitUsername, "git-username", "", "HTTPS user name for the push")
	fl.StringVar(&f.gitPasswordFile, "git-password-file", "", "file holding the HTTPS password or token for the push")
	fl.StringVar(&f.gitTokenFile, "git-token-file", "", "file holding a bearer token for the push")
	fl.StringVar(&f.gitSSHKeyFile, "git-ssh-key-file", "", "SSH private key for the push")
	fl.StringVar(&f.gitKnownHostsFile, "git-known-hosts-file", "", "known_hosts for SSH")
	fl.StringVar(&f.forgeKind, "forge", "", "the forge API: github, gitlab or gitea (default: the source's forge: section)")
	fl.StringVar(&f.forgeURL, "forge-url", "", "the forge's API base URL (default: the source's forge: section, else public GitHub or GitLab)")
	fl.StringVar(&f.forgeRepo, "forge-repo", "", "owner/name on the forge (default: the source's forge: section, else from the repository URL)")
	fl.StringVar(&f.forgeTokenFile, "forge-token-file", "", "file holding the forge API token (default: the source's forge: section)")
	fl.DurationVar(&f.timeout, "timeout", 5*time.Minute, "bound on the whole promotion")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

// promoteSource resolves the repository, branch and credentials, and
// the source's forge section (nil without --config or without one).
func (f promoteFlags) promoteSource() (string, string, source.Auth, *config.Forge, error) {
	auth := source.Auth{Username: f.gitUsername, PasswordFile: f.gitPasswordFile, BearerTokenFile: f.gitTokenFile,
		SSHKeyFile: f.gitSSHKeyFile, KnownHostsFile: f.gitKnownHostsFile}
	if f.configFile == "" {
		if f.repo == "" {
			return "", "", auth, nil, errors.New("give --config or --repo")
		}
		return f.repo, f.branch, auth, nil, nil
	}
	if f.repo != "" {
		return "", "", auth, nil, errors.New("give --config or --repo, not both")
	}
	cfg, err := config.Load(f.configFile)
	if err != nil {
		return "", "", auth, nil, err
	}
	var src *config.Source
	for i, s := range cfg.Sources.Apps {
		if s.Name == f.sourceName || (f.sourceName == "" && len(cfg.Sources.Apps) == 1) {
			src = &cfg.Sources.Apps[i]
		}
	}
	if src == nil {
		return "", "", auth, nil, fmt.Errorf("%s: no app source %q (name one with --source)", f.configFile, f.sourceName)
	}
	a := src.Auth
	auth = source.Auth{Username: a.Username, UsernameFile: a.UsernameFile, PasswordFile: a.PasswordFile, PasswordEnv: a.PasswordEnv,
		BearerTokenFile: a.BearerTokenFile, BearerTokenEnv: a.BearerTokenEnv, SSHKeyFile: a.SSHKeyFile,
		SSHKeyPassphraseFile: a.SSHKeyPassphraseFile, KnownHostsFile: a.KnownHostsFile, CAFile: a.CAFile}
	return src.URL, cmpOr(f.branch, src.Branch), auth, src.Forge, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func runPromote(ctx context.Context, out io.Writer, app string, f promoteFlags) error {
	repoURL, base, auth, sf, err := f.promoteSource()
	if err != nil {
		return err
	}
	base = cmpOr(base, "main")
	file, err := pin.Path(f.pinDir, f.to)
	if err != nil {
		return err
	}
	var client *forge.Client
	if f.openPR {
		if client, err = f.forgeClient(repoURL, sf); err != nil {
			return err
		}
	}
	repo, err := pin.Clone(ctx, repoURL, auth, base, nil) // the default egress policy
	if err != nil {
		return err
	}
	p, err := pin.Plan(ctx, repo, app, f.to, base, file, f.revision, func(ctx context.Context, commit string) (map[string][]byte, error) {
		return renderEnv(ctx, repo, commit, app, f.to)
	})
	if err != nil {
		return err
	}
	if p.From == p.To {
		_, err := fmt.Fprintf(out, "%s: %s is already pinned to %s on %s; nothing to promote\n", app, f.to, pin.Short(p.To), base)
		return err
	}
	res, err := pin.Propose(ctx, repo, client, p, p.Title()+"\n\nWritten by carina promote.", pin.DefaultSignature)
	if err != nil && res.Push.Commit == "" {
		return err
	}
	verb := "pushed"
	if !res.Push.Pushed {
		verb = "already holds"
	}
	fmt.Fprintf(out, "%s: branch %s %s %s (%s: %s -> %s, %d commits)\n", app, res.Branch, verb, pin.Short(res.Push.Commit), file, cmpOr(pin.Short(p.From), "unpinned"), pin.Short(p.To), len(p.Commits))
	if err != nil {
		return err
	}
	if client == nil {
		_, err := fmt.Fprintf(out, "open a pull request from %s into %s, or re-run with --open-pr\n", res.Branch, base)
		return err
	}
	verb = "updated"
	if res.Created {
		verb = "opened"
	}
	_, err = fmt.Fprintf(out, "%s: pull request #%d %s: %s\n", app, res.PR.Number, verb, res.PR.URL)
	return err
}

// forgeClient builds the API client of forgeOptions.
func (f promoteFlags) forgeClient(repoURL string, section *config.Forge) (*forge.Client, error) {
	o, err := f.forgeOptions(repoURL, section)
	if err != nil {
		return nil, err
	}
	return forge.New(o)
}

// forgeOptions is the forge of --open-pr: the source's forge section
// (nil for none) with each --forge* flag given replacing its field; a
// --forge of another kind drops the section's API URL, another forge's.
// The repository defaults to the path of the app repository's URL.
func (f promoteFlags) forgeOptions(repoURL string, section *config.Forge) (forge.Options, error) {
	var s config.Forge
	if section != nil {
		s = *section
	}
	if f.forgeKind != "" && f.forgeKind != s.Kind {
		s.APIURL = ""
	}
	kind, tokenFile := cmpOr(f.forgeKind, s.Kind), cmpOr(f.forgeTokenFile, s.TokenFile)
	if kind == "" || tokenFile == "" {
		return forge.Options{}, errors.New("--open-pr needs --forge and --forge-token-file, or a forge: section on the source of --config")
	}
	repo := cmpOr(f.forgeRepo, s.Repo)
	if repo == "" {
		u, err := url.Parse(repoURL)
		if err != nil || u.Path == "" {
			return forge.Options{}, errors.New("--forge-repo is needed: the repository URL has no owner/name path")
		}
		repo = strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
	}
	return forge.Options{Kind: forge.Kind(kind), BaseURL: cmpOr(f.forgeURL, s.APIURL), Repo: repo, TokenFile: tokenFile}, nil
}
