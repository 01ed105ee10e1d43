package webhook

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// genericPayload is the body the generic receiver accepts, for CI systems
// and scripts:
//
//	{"repository": "https://git.example/org/app.git", "ref": "refs/heads/main", "sha": "0123…"}
//
// "repositories" may list more URLs of the same repository.
type genericPayload struct {
	Repository   string   `json:"repository"`
	Repositories []string `json:"repositories"`
	Ref          string   `json:"ref"`
	SHA          string   `json:"sha"`
}

func genericEvent(http.Header) string { return "push" }

// parseGeneric parses the generic receiver's payload. A ref is optional:
// without one, every source of the repository is woken.
func parseGeneric(_ string, body []byte) (Event, bool, error) {
	var p genericPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return Event{}, true, fmt.Errorf("generic payload: %w", err)
	}
	ref := p.Ref
	if ref == "" {
		ref = "HEAD"
	}
	ev := Event{Provider: Generic, Kind: refKind(ref), Repos: append([]string{p.Repository}, p.Repositories...),
		Ref: ref, SHA: p.SHA}
	return ev, true, ev.finish()
}
