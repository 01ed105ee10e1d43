package apply

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
)

// SharePrefix is the prefix of the annotations that mark an object as
// shared with another app: shared.carina.dev/<app>.<env>: "<app>/<env>".
const SharePrefix = "shared.carina.dev/"

// shareKey is this app's share annotation (hashed when app.env is not a
// valid annotation name).
func shareKey(app, env string) string {
	name := app + "." + env
	if len(validation.IsQualifiedName(SharePrefix+name)) == 0 {
		return SharePrefix + name
	}
	return SharePrefix + "h-" + hash(app, env)
}

// shareManager is the field manager that owns this app's share mark.
func shareManager(app, env string) string {
	name := "carina-share/" + app + "/" + env
	if len(name) <= 128 {
		return name
	}
	return "carina-share/" + hash(app, env)
}

func hash(app, env string) string {
	sum := sha256.Sum256([]byte(app + "\x00" + env))
	return hex.EncodeToString(sum[:10])
}

// ownerOf returns the app and env a live object's labels name.
func ownerOf(u *unstructured.Unstructured) (app, env string) {
	l := u.GetLabels()
	return l[LabelApp], l[LabelEnv]
}

// ownedByAnotherApp reports whether the labels name some app and env.
func ownedByAnotherApp(u *unstructured.Unstructured) bool {
	app, env := ownerOf(u)
	return app != "" && env != ""
}

// sharers returns the "<app>/<env>" values of the share marks on u other
// than (app, env)'s, sorted.
func sharers(u *unstructured.Unstructured, app, env string) []string {
	own := shareKey(app, env)
	var out []string
	for k, v := range u.GetAnnotations() {
		if strings.HasPrefix(k, SharePrefix) && k != own && strings.Count(v, "/") == 1 {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

func isNotFound(err error) bool {
	var oe *ObjectError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	return apierrors.IsNotFound(err)
}
