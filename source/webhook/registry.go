package webhook

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Registry webhook providers: an OCI registry announces a push, which
// wakes the oci:// sources of that repository. Like forge webhooks they
// are hints to look, never the state to apply.
const (
	// Distribution is the notification format of the Distribution
	// registry (and of registries built on it, Harbor's and GitLab's
	// among them): an envelope of events. It cannot sign a body, so the
	// secret comes as a static header, "Authorization: Bearer <secret>",
	// which the registry's notification endpoint config sets.
	Distribution Provider = "distribution"
	// RegistryGeneric is a signed generic registry payload, for CI
	// systems and registries that post their own JSON through a script:
	// {"repository": "oci://host/repo", "tag": "v1", "digest": "sha256:…"},
	// signed like the generic receiver (X-Signature-256: sha256=<HMAC>).
	RegistryGeneric Provider = "registry-generic"
)

// distributionEnvelope is the body Distribution posts.
type distributionEnvelope struct {
	Events []distributionEvent `json:"events"`
}

type distributionEvent struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	Target struct {
		MediaType  string `json:"mediaType"`
		Digest     string `json:"digest"`
		Repository string `json:"repository"`
		URL        string `json:"url"`
		Tag        string `json:"tag"`
	} `json:"target"`
	Request struct {
		Host string `json:"host"`
	} `json:"request"`
}

// maxRegistryEvents bounds the events of one envelope.
const maxRegistryEvents = 256

// ParseRegistry parses a registry webhook body of provider p (Distribution
// or RegistryGeneric) into push Events, one per repository pushed to. An
// event whose Repos are "oci://host/repository" (matched with
// source.RepoKey to the oci:// sources) and whose Ref is
// "refs/tags/<tag>", or "HEAD" for a push by digest. Pulls, deletes and
// blob uploads give no Event.
func ParseRegistry(p Provider, body []byte) ([]Event, error) {
	switch p {
	case Distribution:
		return parseDistribution(body)
	case RegistryGeneric:
		return parseRegistryGeneric(body)
	}
	return nil, fmt.Errorf("webhook provider %q is not a registry", p)
}

func parseDistribution(body []byte) ([]Event, error) {
	var env distributionEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("distribution payload: %w", err)
	}
	if len(env.Events) > maxRegistryEvents {
		return nil, fmt.Errorf("distribution payload holds %d events, more than %d", len(env.Events), maxRegistryEvents)
	}
	var out []Event
	seen := map[string]bool{}
	for _, e := range env.Events {
		t := e.Target
		if e.Action != "push" || t.Repository == "" || t.Tag == "" && !isManifest(t.MediaType) {
			continue
		}
		var repos []string
		for _, h := range []string{e.Request.Host, urlHost(t.URL)} {
			if h != "" {
				repos = append(repos, "oci://"+h+"/"+t.Repository)
			}
		}
		ev := Event{Provider: Distribution, Kind: KindPush, Repos: repos, Ref: registryRef(t.Tag), Delivery: e.ID}
		if err := ev.finish(); err != nil {
			continue
		}
		if key := strings.Join(ev.RepoKeys(), ",") + "\x00" + ev.Ref; !seen[key] {
			seen[key] = true
			out = append(out, ev)
		}
	}
	return out, nil
}

type registryGenericPayload struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Digest     string `json:"digest"`
}

func parseRegistryGeneric(body []byte) ([]Event, error) {
	var p registryGenericPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("registry payload: %w", err)
	}
	repo := p.Repository
	if !strings.HasPrefix(repo, "oci://") {
		repo = "oci://" + repo
	}
	ev := Event{Provider: RegistryGeneric, Kind: KindPush, Repos: []string{repo}, Ref: registryRef(p.Tag)}
	if err := ev.finish(); err != nil {
		return nil, err
	}
	return []Event{ev}, nil
}

func registryRef(tag string) string {
	if tag == "" {
		return "HEAD"
	}
	return "refs/tags/" + tag
}

func isManifest(mt string) bool {
	return strings.Contains(mt, "manifest") || strings.Contains(mt, "image.index")
}

func urlHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// verifyRegistry checks a registry webhook's secret: the bearer token for
// Distribution (compared in constant time), the HMAC for RegistryGeneric.
func verifyRegistry(p Provider, secret []byte, h http.Header, body []byte) error {
	switch p {
	case Distribution:
		tok, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(tok), secret) != 1 {
			return errSignature
		}
		return nil
	case RegistryGeneric:
		return hmacHeader("X-Signature-256", "sha256=")(secret, h, body)
	}
	return errors.New("not a registry provider")
}
