package sops

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	sopsage "github.com/getsops/sops/v3/age"
)

// Keys holds age identities in memory. Its String, GoString and LogValue
// never print a key; its JSON form (which carries the keys to a render
// worker over a pipe) does, so a Keys value must never be logged as JSON.
type Keys struct {
	ids sopsage.ParsedIdentities
	raw []string
}

// ParseKeys reads age identities ("AGE-SECRET-KEY-1..." lines; blank lines
// and "#" comments are skipped), the content of a keys.txt file or of a
// Secret's key. An error never quotes the input.
func ParseKeys(data []byte) (*Keys, error) {
	k := &Keys{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.HasPrefix(line, "AGE-SECRET-KEY-1") {
			return nil, fmt.Errorf("sops keys line %d: %w", i+1, ErrKeyFormat)
		}
		var ids sopsage.ParsedIdentities
		if err := ids.Import(line); err != nil {
			return nil, fmt.Errorf("sops keys line %d: %w", i+1, ErrKeyFormat)
		}
		k.ids = append(k.ids, ids...)
		k.raw = append(k.raw, line)
	}
	if len(k.raw) == 0 {
		return nil, errors.New("sops keys hold no age identity")
	}
	return k, nil
}

// Merge returns the identities of k and o together; either may be nil.
func (k *Keys) Merge(o *Keys) *Keys {
	out := &Keys{}
	for _, x := range []*Keys{k, o} {
		if x != nil {
			out.ids = append(out.ids, x.ids...)
			out.raw = append(out.raw, x.raw...)
		}
	}
	return out
}

// Len is the number of identities.
func (k *Keys) Len() int {
	if k == nil {
		return 0
	}
	return len(k.raw)
}

// Plaintexts returns the identities, for Redact: no key may appear in an
// error either.
func (k *Keys) secrets() []string {
	if k == nil {
		return nil
	}
	return k.raw
}

func (k *Keys) String() string   { return fmt.Sprintf("sops keys (%d age identities)", k.Len()) }
func (k *Keys) GoString() string { return k.String() }

// LogValue prints the count only.
func (k *Keys) LogValue() slog.Value { return slog.IntValue(k.Len()) }

// MarshalJSON carries the identities to a render worker.
func (k *Keys) MarshalJSON() ([]byte, error) { return json.Marshal(k.raw) }

// UnmarshalJSON reads what MarshalJSON wrote.
func (k *Keys) UnmarshalJSON(b []byte) error {
	var raw []string
	if err := json.Unmarshal(b, &raw); err != nil {
		return errors.New("sops keys: bad JSON")
	}
	p, err := ParseKeys([]byte(strings.Join(raw, "\n")))
	if err != nil {
		return err
	}
	*k = *p
	return nil
}
