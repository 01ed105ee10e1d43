package agent

import (
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/carina-gitops/carina/apply"
)

// TestStatusReason: a failure's commit status leads with the object's
// failure, the API server's answer, when the whole error is too long for
// a status to show it; a short error is said as it is; decrypted values
// are redacted.
func TestStatusReason(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "resourcequotas"}, "sneaky",
		fmt.Errorf(`User "system:serviceaccount:shop-pr-6:previewer" cannot create resource "resourcequotas" in the namespace "shop-pr-6"`))
	oe := &apply.ObjectError{ID: apply.ID{Kind: "ResourceQuota", Namespace: "shop-pr-6", Name: "sneaky"}, Op: "dry-run", Err: forbidden}
	long := fmt.Errorf("cluster local: %w", &apply.StageError{Stage: "resources", Phase: "dry-run", Failed: 1, Total: 3, Errs: []error{oe}})
	got := statusReason(long, sanitize(long, time.Time{}).Message, func(s string) string { return s })
	if want := `ResourceQuota/shop-pr-6/sneaky dry-run: resourcequotas "sneaky" is forbidden: User`; !strings.HasPrefix(got, want) {
		t.Errorf("long error: %q, want it to start with %q", got, want)
	}
	if got := clipStatus(got); !strings.Contains(got, "forbidden") {
		t.Errorf("the clipped status %q does not say forbidden", got)
	}
	short := fmt.Errorf("cluster local: %w", oe)
	if got := statusReason(short, "render failed", strings.ToUpper); got != "render failed" {
		t.Errorf("short error: %q, want it as it is", got)
	}
	secret := &apply.ObjectError{ID: apply.ID{Kind: "ConfigMap", Namespace: "ns", Name: "c"}, Op: "apply",
		Err: fmt.Errorf("data.password: invalid value %q", "hunter2")}
	long = fmt.Errorf("%s: %w", strings.Repeat("x", 150), secret)
	got = statusReason(long, long.Error(), func(s string) string { return strings.ReplaceAll(s, "hunter2", "***") })
	if strings.Contains(got, "hunter2") || !strings.Contains(got, "ConfigMap/ns/c apply: ") {
		t.Errorf("redacted: %q", got)
	}
}
