package oci_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/carina-gitops/carina/internal/egress"
	"github.com/carina-gitops/carina/source/oci"
)

// TestFetchRefusesWhatTheEgressPolicyDenies: a real registry on loopback
// under denyCIDRs 127.0.0.0/8 is refused at dial time, with an error that
// names the address and the rule and not the password; the same fetch
// works under the default policy.
func TestFetchRefusesWhatTheEgressPolicyDenies(t *testing.T) {
	reg, allowed, ref := setup(t)
	reg.PushFlux(t, "apps/shop", "latest", map[string]string{"a": "b"})
	deny, err := egress.New(egress.Rules{DenyCIDRs: []string{"127.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	denied, err := oci.NewFetcher(oci.Options{CacheDir: t.TempDir(), Egress: deny})
	if err != nil {
		t.Fatal(err)
	}
	_, err = denied.Fetch(t.Context(), ref)
	if !errors.Is(err, egress.ErrDenied) {
		t.Fatalf("fetch under denyCIDRs 127.0.0.0/8: %v, want a refusal", err)
	}
	if !strings.Contains(err.Error(), "refusing to connect to 127.0.0.1:") || !strings.Contains(err.Error(), "(denyCIDRs 127.0.0.0/8)") || strings.Contains(err.Error(), pass) {
		t.Errorf("refusal %q does not name the address and the rule, or holds the password", err)
	}
	if _, err := allowed.Fetch(t.Context(), ref); err != nil {
		t.Fatalf("fetch under the default policy: %v (the refusal above would prove nothing)", err)
	}
}
