package cue

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/carina-gitops/carina/capabilities"
)

// Context holds KubeVela's context fields for a template. Traits and health
// policies also see context.output and context.outputs.
type Context struct {
	Name           string
	AppName        string
	Namespace      string
	Cluster        string
	AppRevision    string
	AppRevisionNum int64
	Revision       string
	AppLabels      map[string]string
	AppAnnotations map[string]string
	ComponentType  string
	PublishVersion string
	WorkflowName   string
	StepName       string
	ReplicaKey     string
	// ClusterVersion is the target cluster's Kubernetes version
	// (context.clusterVersion).
	ClusterVersion ClusterVersion
	// PullRequest is the pull request a preview environment deploys
	// (context.pullRequest, Carina's; KubeVela has none). Nil leaves
	// context.pullRequest out, so that `if context.pullRequest != _|_`
	// tells a preview from any other environment.
	PullRequest *PullRequest
}

// PullRequest is context.pullRequest: number, branch (the head branch),
// base (the target branch), headSHA, author and labels.
type PullRequest struct {
	Number  int      `json:"number"`
	Branch  string   `json:"branch"`
	Base    string   `json:"base"`
	HeadSHA string   `json:"headSHA"`
	Author  string   `json:"author"`
	Labels  []string `json:"labels"`
}

func (p *PullRequest) value() map[string]any {
	labels := make([]any, len(p.Labels))
	for i, l := range p.Labels {
		labels[i] = l
	}
	return map[string]any{"number": int64(p.Number), "branch": p.Branch, "base": p.Base, "headSHA": p.HeadSHA,
		"author": p.Author, "labels": labels}
}

// ClusterVersion is context.clusterVersion, KubeVela's shape of a cluster's
// /version: major and gitVersion are strings, minor is a number.
type ClusterVersion struct {
	Major      string
	Minor      int64
	GitVersion string
	Platform   string
}

// ParseClusterVersion reads a Kubernetes version: "1.18", "v1.18.3" or
// "1.30+" (what some providers report as minor).
func ParseClusterVersion(s string) (ClusterVersion, error) {
	v := strings.TrimPrefix(strings.TrimSpace(s), "v")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 || parts[0] == "" {
		return ClusterVersion{}, fmt.Errorf("kubernetes version %q is not MAJOR.MINOR (for example 1.18 or v1.30.2)", s)
	}
	if _, err := strconv.ParseUint(parts[0], 10, 8); err != nil {
		return ClusterVersion{}, fmt.Errorf("kubernetes version %q: major %q is not a number", s, parts[0])
	}
	minor, err := strconv.ParseInt(strings.TrimRight(parts[1], ".+-/?!"), 10, 64)
	if err != nil || minor < 0 || minor > 999 {
		return ClusterVersion{}, fmt.Errorf("kubernetes version %q: minor %q is not a number", s, parts[1])
	}
	git := "v" + parts[0] + "." + strconv.FormatInt(minor, 10) + ".0"
	if len(parts) == 3 {
		git = "v" + v
	}
	return ClusterVersion{Major: parts[0], Minor: minor, GitVersion: git, Platform: "linux/amd64"}, nil
}

// value builds the context value; for a trait, output and outputs are
// included only when the definition reads them (encoding whole objects is
// a large part of a trait's cost).
func (c Context) value(def *capabilities.Definition, w *Workload) map[string]any {
	m := map[string]any{
		"name":           c.Name,
		"appName":        c.AppName,
		"namespace":      c.Namespace,
		"cluster":        c.Cluster,
		"appRevision":    c.AppRevision,
		"appRevisionNum": c.AppRevisionNum,
		"revision":       c.Revision,
		"appLabels":      stringMap(c.AppLabels),
		"appAnnotations": stringMap(c.AppAnnotations),
		"componentType":  c.ComponentType,
		"publishVersion": c.PublishVersion,
		"workflowName":   c.WorkflowName,
		"stepName":       c.StepName,
		"replicaKey":     c.ReplicaKey,
		"clusterVersion": map[string]any{
			"major":      c.ClusterVersion.Major,
			"minor":      c.ClusterVersion.Minor,
			"gitVersion": c.ClusterVersion.GitVersion,
			"platform":   c.ClusterVersion.Platform,
		},
	}
	if c.PullRequest != nil {
		m["pullRequest"] = c.PullRequest.value()
	}
	if w != nil {
		if w.Output != nil && def.UsesContext("output") {
			m["output"] = w.Output
		}
		if def.UsesContext("outputs") {
			m["outputs"] = w.outputsByName()
		}
	}
	return m
}

func stringMap(in map[string]string) map[string]any {
	out := make(map[string]any, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}
