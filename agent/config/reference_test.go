package config

import (
	"flag"
	"fmt"
	"go/ast"
	"go/doc/comment"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

var updateReference = flag.Bool("update-reference", false, "rewrite docs/config-reference.md from the config types")

const referencePath = "../../docs/config-reference.md"

// TestConfigReference fails when docs/config-reference.md does not list
// every field of carina.yaml as the types in this package declare them;
// go test ./agent/config -run TestConfigReference -update-reference
// rewrites it.
func TestConfigReference(t *testing.T) {
	got := reference(t)
	if *updateReference {
		if err := os.WriteFile(referencePath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(referencePath)
	if err != nil || string(want) != got {
		t.Fatalf("docs/config-reference.md is stale (%v): the config types changed; run\n\tgo test ./agent/config -run TestConfigReference -update-reference", err)
	}
}

// referenceDefaults are the defaults that depend on the machine or on
// other fields, as the reference states them.
var referenceDefaults = map[string]string{
	"limits.render.workers":       "the number of CPUs",
	"leaderElection.cluster":      "the first cluster",
	"webhooks[].path":             "`/hooks/<provider>`",
	"sources.apps[].name":         "required",
	"sources.apps[].url":          "required",
	"sources.capabilities[].name": "required",
	"sources.capabilities[].url":  "required",
	"clusters[].name":             "required",
	"clusters[].secret.namespace": "-",
	"clusters[].secret.name":      "-",
	"webhooks[].provider":         "required",
	"webhooks[].secretEnv":        "-",
}

// referenceNotes explain the fields types.go leaves without a comment of
// their own, by "Type.Field". Once the field gets a comment, the test asks
// for its note to go.
var referenceNotes = map[string]string{
	"Source.TagPrefix":             "With SemVer, only tags with this prefix count, and the prefix is cut before comparing (`app-v1.2.3`).",
	"Auth.Username":                "User name for HTTPS basic authentication.",
	"Auth.UsernameFile":            "File holding the user name.",
	"Auth.PasswordFile":            "File holding the HTTPS password or token.",
	"Auth.PasswordEnv":             "Environment variable holding the HTTPS password or token.",
	"Auth.BearerTokenFile":         "File holding a bearer token sent as `Authorization: Bearer`.",
	"Auth.BearerTokenEnv":          "Environment variable holding a bearer token.",
	"Auth.SSHKeyFile":              "Private key for `ssh://` URLs.",
	"Auth.SSHKeyPassphraseFile":    "File holding the private key's passphrase.",
	"Auth.KnownHostsFile":          "known_hosts file the SSH host key must be in; required for `ssh://` URLs.",
	"Auth.CAFile":                  "PEM CA certificates to trust for the HTTPS host, besides the system's.",
	"Cluster.Name":                 "Name environments use in their topology policy's `clusters`.",
	"Kubeconfig.File":              "Path of the kubeconfig file.",
	"Kubeconfig.Context":           "Context to use; the file's current context when empty.",
	"SecretKubeconfig.Namespace":   "Namespace of the Secret.",
	"SecretKubeconfig.Name":        "Name of the Secret.",
	"SecretKubeconfig.Context":     "Context of the kubeconfig to use; its current context when empty.",
	"LeaderElection.Namespace":     "Namespace of the Lease.",
	"LeaderElection.Name":          "Name of the Lease.",
	"LeaderElection.LeaseDuration": "How long a Lease is valid without renewal; a follower takes over after it. At least renewDeadline + retryPeriod: the margin in which a write the old leader sent before it stopped must land.",
	"LeaderElection.RenewDeadline": "How long the leader may go without renewing: counted from the start of its last renewal that succeeded, it then cancels every write in flight, stops leading and exits (to start over as a follower), before its lease can run out.",
	"LeaderElection.RetryPeriod":   "Interval between tries to acquire or renew the Lease.",
	"FetchLimits.MaxBytes":         "Largest repository checkout, in bytes.",
	"FetchLimits.MaxFiles":         "Most files in a checkout.",
	"FetchLimits.Timeout":          "Time limit of one fetch.",
	"RenderLimits.Timeout":         "Time limit of one render; the worker is killed past it.",
	"RenderLimits.MaxObjects":      "Most objects one render may produce.",
	"RenderLimits.MaxOutputBytes":  "Largest output of one render, in bytes.",
}

// referenceMinimal is the smallest file with one element in every list,
// parsed to read the defaults.
const referenceMinimal = `
sources: {apps: [{name: a, url: "https://git.example.com/a.git"}], capabilities: [{name: c, url: "https://git.example.com/c.git"}]}
clusters: [{name: c, secret: {namespace: n, name: s}}]
webhooks: [{provider: github, secretEnv: X}]
`

// reference renders the page from the types' declarations (for the
// comments) and their reflection (for names and types).
func reference(t *testing.T) string {
	docs := fieldDocs(t)
	cfg, err := Parse("minimal.yaml", []byte(referenceMinimal))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(`# carina.yaml reference

<!-- Generated from agent/config/types.go by
     go test ./agent/config -run TestConfigReference -update-reference
     Do not edit; a test fails when this page is stale. -->

Every field of the agent's configuration file, ` + "`carina agent --config carina.yaml`" + `. Parsing is
strict: an unknown key, a wrong type or a duplicate key is an error with its file:line:col, and
` + "`carina agent --config carina.yaml --check`" + ` reports every problem at once. Durations are Go
durations (` + "`90s`, `5m`, `1h`" + `); sizes are bytes or ` + "`512Ki`, `64Mi`, `1Gi`" + `. Secrets are never
values in this file: fields ending in ` + "`File`" + ` name a file, fields ending in ` + "`Env`" + ` an environment
variable. A default of "-" means unset.
`)
	typ := reflect.TypeOf(Config{})
	val := reflect.ValueOf(*cfg)
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := yamlName(f)
		fmt.Fprintf(&b, "\n## `%s`\n\n%s\n\n| field | type | default | meaning |\n| --- | --- | --- | --- |\n", name, docs[typ.Name()+"."+f.Name])
		top := map[string]string{f.Name: docs[typ.Name()+"."+f.Name]}
		for k, v := range docs {
			top[k] = v
		}
		writeFields(&b, top, name, f, val.Field(i))
	}
	return b.String()
}

// writeFields writes the row of field f at path, then its children.
func writeFields(b *strings.Builder, docs map[string]string, path string, f reflect.StructField, v reflect.Value) {
	ft := f.Type
	if ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct {
		ft = ft.Elem()
		if v.IsNil() {
			v = reflect.New(ft).Elem()
		} else {
			v = v.Elem()
		}
	}
	elem := v
	if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
		path += "[]"
		ft = ft.Elem()
		if v.Len() > 0 {
			elem = v.Index(0)
		} else {
			elem = reflect.New(ft).Elem()
		}
	}
	if ft.Kind() != reflect.Struct || ft == reflect.TypeOf(time.Time{}) {
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", path, typeName(ft), defaultOf(path, v), oneLine(docs[f.Name]))
		return
	}
	if path != yamlName(f) {
		d := docs[f.Name]
		if d == "" {
			d = docs[ft.Name()+"."]
		}
		fmt.Fprintf(b, "| `%s` | %s | | %s |\n", path, typeName(f.Type), oneLine(d))
	}
	for i := range ft.NumField() {
		sub := ft.Field(i)
		name := yamlName(sub)
		if name == "" {
			continue
		}
		d := docs[ft.Name()+"."+sub.Name]
		subDocs := map[string]string{sub.Name: d}
		for k, v := range docs {
			if strings.Contains(k, ".") {
				subDocs[k] = v
			}
		}
		writeFields(b, subDocs, path+"."+name, sub, elem.Field(i))
	}
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func typeName(t reflect.Type) string {
	switch {
	case t == reflect.TypeOf(time.Duration(0)):
		return "duration"
	case t == reflect.TypeOf(ByteSize(0)):
		return "size"
	case t.Kind() == reflect.Pointer:
		return typeName(t.Elem())
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return "list"
	case t.Kind() == reflect.Slice:
		return "list of " + typeName(t.Elem())
	case t.Kind() == reflect.Struct:
		return "object"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "number"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "integer"
	}
	return t.Kind().String()
}

func defaultOf(path string, v reflect.Value) string {
	if d, ok := referenceDefaults[path]; ok {
		return d
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "-"
		}
		v = v.Elem()
	}
	if !v.IsValid() || v.IsZero() {
		return "-"
	}
	switch x := v.Interface().(type) {
	case time.Duration:
		return "`" + x.String() + "`"
	case ByteSize:
		return "`" + sizeString(int64(x)) + "`"
	}
	return fmt.Sprintf("`%v`", v.Interface())
}

func sizeString(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.suffix)
		}
	}
	return fmt.Sprint(n)
}

// oneLine makes a doc comment fit a table cell.
func oneLine(s string) string {
	return strings.ReplaceAll(strings.Join(strings.Fields(s), " "), "|", `\|`)
}

// fieldDocs reads the doc comments of types.go: "Type." is a type's doc,
// "Type.Field" a field's. A field without a comment of its own shares the
// comment of the field above it on a line of its own (Branch, Tag, ...).
func fieldDocs(t *testing.T) map[string]string {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "types.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var p comment.Parser
	var pr comment.Printer
	text := func(g *ast.CommentGroup) string {
		if g == nil {
			return ""
		}
		return strings.TrimSpace(string(pr.Text(p.Parse(g.Text()))))
	}
	docs := map[string]string{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, s := range gd.Specs {
			ts := s.(*ast.TypeSpec)
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			docs[ts.Name.Name+"."] = text(gd.Doc)
			structDocs(t, docs, ts.Name.Name, st, text)
		}
	}
	return docs
}

// structDocs records the comments of one struct's fields.
func structDocs(t *testing.T, docs map[string]string, typ string, st *ast.StructType, text func(*ast.CommentGroup) string) {
	prev := ""
	for _, fl := range st.Fields.List {
		own := text(fl.Doc)
		if own == "" {
			own = text(fl.Comment)
		}
		for _, n := range fl.Names {
			key := typ + "." + n.Name
			d := own
			// "At most one of Branch, Tag, SemVer ..." documents Tag too.
			if d == "" && strings.Contains(prev, n.Name) {
				d = prev
			}
			if note, ok := referenceNotes[key]; ok {
				if own != "" {
					t.Errorf("%s has a comment in types.go now: drop its entry from referenceNotes", key)
				}
				d = note
			}
			docs[key] = d
		}
		if own != "" {
			prev = own
		}
	}
}
