package appfile

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// PreviewPolicy is the type of the policy that deploys each open pull
// request of the app's repository into an environment of its own
// (Carina's; KubeVela has none).
const PreviewPolicy = "preview"

// DefaultPreviewNamespace is the namespace template of a preview policy
// that names none; DefaultMaxPreviews its maxPreviews.
const (
	DefaultPreviewNamespace = "{{.App}}-pr-{{.Number}}"
	DefaultMaxPreviews      = 5
)

// Preview is a parsed preview policy. Where a preview deploys (clusters,
// namespace, service account) is read from the followed branch's
// definition only, never from the pull request's.
type Preview struct {
	Name string
	// Clusters are the target clusters; empty means the agent's default.
	Clusters []string
	// Namespace is the namespace template; only {{.App}} and {{.Number}}
	// are known, and the result must be a DNS label.
	Namespace string
	// Branches are the target branches a pull request must aim at; empty
	// means the branch the source follows.
	Branches []string
	// Labels: a pull request must carry one of them, when set.
	Labels []string
	// TitlePattern: a pull request's title must match it, when set.
	TitlePattern *regexp.Regexp
	// MaxPreviews bounds the previews that run at once; the other pull
	// requests wait.
	MaxPreviews int
	// TTL prunes a preview whose head has not moved for that long (0:
	// never).
	TTL time.Duration
	// ServiceAccount is impersonated in the preview namespace, where the
	// agent creates it and binds it to ClusterRole there.
	ServiceAccount string
	ClusterRole    string
	// RequireLabel lets a pull request from a fork have a preview when
	// it carries this label (one only maintainers can add).
	RequireLabel string
	// AllowForks lets every pull request from a fork have a preview.
	AllowForks bool
	// Overrides name the override policies applied to the preview.
	Overrides []string
	Pos       Position
}

// previewEnvName matches the names of preview environments.
var previewEnvName = regexp.MustCompile(`^pr-[1-9][0-9]*$`)

// PreviewEnvName is the environment of pull request number.
func PreviewEnvName(number int) string { return "pr-" + strconv.Itoa(number) }

// PreviewNumber returns the pull request number of a preview
// environment's name, and false for another name.
func PreviewNumber(env string) (int, bool) {
	if !previewEnvName.MatchString(env) {
		return 0, false
	}
	n, err := strconv.Atoi(env[3:])
	return n, err == nil
}

// AppPreview returns the application's preview policy, nil when it has
// none. The error is an ErrorList.
func AppPreview(app *Application) (*Preview, error) {
	var errs ErrorList
	p := appPreview(app, &errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return p, nil
}

func appPreview(app *Application, errs *ErrorList) *Preview {
	var out *Preview
	for i := range app.Policies {
		p := &app.Policies[i]
		if p.Type != PreviewPolicy {
			continue
		}
		if out != nil {
			errs.add(p.Pos, "policy %q: an application has one preview policy; %q is already one (%s)", p.Name, out.Name, out.Pos)
			continue
		}
		out = parsePreview(app, p, errs)
	}
	for i := range app.Policies {
		if p := &app.Policies[i]; p.Type == TopologyPolicy && previewEnvName.MatchString(p.Name) {
			errs.add(p.Pos, "policy %q: the names pr-<number> are kept for preview environments", p.Name)
		}
	}
	return out
}

func parsePreview(app *Application, p *Policy, errs *ErrorList) *Preview {
	what := fmt.Sprintf("policy %q", p.Name)
	out := &Preview{Name: p.Name, Namespace: DefaultPreviewNamespace, MaxPreviews: DefaultMaxPreviews, ClusterRole: "edit", Pos: p.Pos}
	known := map[string]bool{"clusters": true, "namespace": true, "branches": true, "labels": true, "titlePattern": true,
		"maxPreviews": true, "ttl": true, "serviceAccount": true, "clusterRole": true, "requireLabel": true, "allowForks": true, "overrides": true}
	for k := range p.Properties {
		if !known[k] {
			errs.add(p.Pos, "%s: unknown property %q", what, k)
		}
	}
	list := func(key string) []string {
		l, ok := stringList(p.Properties[key])
		if !ok {
			errs.add(p.Pos, "%s: %s must be a list of strings, got %s", what, key, valueKind(p.Properties[key]))
		}
		return l
	}
	str := func(key string) string {
		v, has := p.Properties[key]
		if !has || v == nil {
			return ""
		}
		s, ok := v.(string)
		if !ok {
			errs.add(p.Pos, "%s: %s must be a string, got %s", what, key, valueKind(v))
		}
		return s
	}
	out.Clusters, out.Branches, out.Labels, out.Overrides = list("clusters"), list("branches"), list("labels"), list("overrides")
	if dup := firstDuplicate(out.Clusters); dup != "" {
		errs.add(p.Pos, "%s: cluster %q is listed twice", what, dup)
	}
	if ns := str("namespace"); ns != "" {
		out.Namespace = ns
	}
	if _, err := out.NamespaceFor(app.Name, 1); err != nil {
		errs.add(p.Pos, "%s: %v", what, err)
	}
	if tp := str("titlePattern"); tp != "" {
		re, err := regexp.Compile(tp)
		if err != nil {
			errs.add(p.Pos, "%s: titlePattern: %v", what, err)
		}
		out.TitlePattern = re
	}
	switch v := p.Properties["maxPreviews"].(type) {
	case nil:
	case int:
		out.MaxPreviews = v
	case int64:
		out.MaxPreviews = int(v)
	case float64:
		out.MaxPreviews = int(v)
		if float64(out.MaxPreviews) != v {
			out.MaxPreviews = 0
		}
	default:
		errs.add(p.Pos, "%s: maxPreviews must be a number, got %s", what, valueKind(v))
	}
	if out.MaxPreviews < 1 {
		errs.add(p.Pos, "%s: maxPreviews must be a whole number of at least 1", what)
	}
	if ttl := str("ttl"); ttl != "" {
		d, err := time.ParseDuration(ttl)
		if err != nil || d <= 0 {
			errs.add(p.Pos, "%s: ttl %q must be a positive duration such as 72h", what, ttl)
		}
		out.TTL = d
	}
	out.ServiceAccount, out.RequireLabel = str("serviceAccount"), str("requireLabel")
	if cr := str("clusterRole"); cr != "" {
		out.ClusterRole = cr
	}
	if out.ServiceAccount != "" && !isDNSLabel(out.ServiceAccount) {
		errs.add(p.Pos, "%s: serviceAccount %q must be %s", what, out.ServiceAccount, dnsLabelRule)
	}
	switch v := p.Properties["allowForks"].(type) {
	case nil:
	case bool:
		out.AllowForks = v
	default:
		errs.add(p.Pos, "%s: allowForks must be true or false, got %s", what, valueKind(v))
	}
	for _, name := range out.Overrides {
		i := indexPolicy(app.Policies, name)
		if i < 0 || app.Policies[i].Type != OverridePolicy {
			errs.add(p.Pos, "%s: overrides names %q, which is no override policy of the application", what, name)
		}
	}
	return out
}

func indexPolicy(ps []Policy, name string) int {
	for i, p := range ps {
		if p.Name == name {
			return i
		}
	}
	return -1
}

// stringList reads a list of strings; nil is an empty list.
func stringList(v any) ([]string, bool) {
	switch v := v.(type) {
	case nil:
		return nil, true
	case []string:
		return append([]string(nil), v...), true
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			s, ok := x.(string)
			if !ok || s == "" {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// previewData is all a namespace template can use.
type previewData struct {
	App    string
	Number int
}

// NamespaceFor is the preview namespace of pull request number of app.
func (p *Preview) NamespaceFor(app string, number int) (string, error) {
	t, err := template.New("namespace").Option("missingkey=error").Parse(p.Namespace)
	if err != nil {
		return "", fmt.Errorf("namespace template %q: %w", p.Namespace, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, previewData{App: app, Number: number}); err != nil {
		return "", fmt.Errorf("namespace template %q: only {{.App}} and {{.Number}} are known: %w", p.Namespace, err)
	}
	ns := strings.TrimSpace(b.String())
	if !isDNSLabel(ns) {
		return "", fmt.Errorf("namespace template %q gives %q, which is not %s", p.Namespace, ns, dnsLabelRule)
	}
	return ns, nil
}

// Env is the environment of pull request number of app, as this policy
// (read from the followed branch) places it: its clusters, namespace
// and service account, with the override policies it names taken from
// app (the pull request's own definition of the application).
// defaultCluster replaces an empty cluster list.
func (p *Preview) Env(app *Application, number int, defaultCluster string) (Environment, error) {
	ns, err := p.NamespaceFor(app.Name, number)
	if err != nil {
		return Environment{}, err
	}
	env := Environment{Name: PreviewEnvName(number), Clusters: append([]string(nil), p.Clusters...), Namespace: ns, ServiceAccount: p.ServiceAccount}
	if len(env.Clusters) == 0 {
		env.Clusters = []string{defaultCluster}
	}
	for _, name := range p.Overrides {
		i := indexPolicy(app.Policies, name)
		if i < 0 || app.Policies[i].Type != OverridePolicy {
			return Environment{}, fmt.Errorf("the pull request's application %s has no override policy %q", app.Name, name)
		}
		env.Overrides = append(env.Overrides, app.Policies[i])
		env.Policies = append(env.Policies, app.Policies[i])
	}
	env.Overrides, env.Policies = clonePolicies(env.Overrides), clonePolicies(env.Policies)
	return env, nil
}
