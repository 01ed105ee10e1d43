package inventory

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// ConfigMap keys and labels of an inventory.
const (
	KeyObjects   = "objects"    // newline-separated entries, uncompressed
	KeyObjectsGz = "objects.gz" // the same text, gzip, in binaryData
	ExtraPrefix  = "x."         // prefix of Extra keys in data

	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelInvApp    = "inventory.carina.dev/app"
	LabelInvEnv    = "inventory.carina.dev/env"
)

// Options bound the encoded inventory.
type Options struct {
	// CompressAbove is the size of the objects text from which it is
	// stored gzip-compressed in binaryData.
	CompressAbove int
	// MaxBytes bounds the encoded ConfigMap's data and binaryData. The
	// API server refuses ConfigMaps over 1 MiB.
	MaxBytes int
	// MaxEntries bounds the number of objects.
	MaxEntries int
}

// DefaultOptions compress above 16 KiB, allow 1,000,000 bytes (under the
// 1 MiB ConfigMap limit) and 100,000 objects.
func DefaultOptions() Options {
	return Options{CompressAbove: 16 << 10, MaxBytes: 1_000_000, MaxEntries: 100_000}
}

// maxLineBytes is the average line length the decompressed objects text
// may have; more is refused as a bomb before parsing.
const maxLineBytes = 512

// ErrTooLarge is returned when an inventory does not fit its bounds.
var ErrTooLarge = errors.New("inventory too large")

// ToConfigMap encodes the inventory as a ConfigMap in namespace.
func ToConfigMap(inv *Inventory, namespace string, opts Options) (*corev1.ConfigMap, error) {
	if len(inv.Entries) > opts.MaxEntries {
		return nil, fmt.Errorf("inventory of app %s env %s has %d objects, more than %d: %w", inv.App, inv.Env, len(inv.Entries), opts.MaxEntries, ErrTooLarge)
	}
	cm := &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name: Name(inv.App, inv.Env), Namespace: namespace,
			Labels: map[string]string{LabelManagedBy: "carina", LabelInvApp: labelValue(inv.App), LabelInvEnv: labelValue(inv.Env)},
		},
		Data: map[string]string{"count": strconv.Itoa(len(inv.Entries))},
	}
	for k, v := range map[string]string{
		"app": inv.App, "env": inv.Env, "revision": inv.Revision, "digest": inv.Digest,
		"result": inv.Result, "message": truncate(inv.Message, MaxMessageBytes), "health": inv.Health,
	} {
		if v != "" {
			cm.Data[k] = v
		}
	}
	if !inv.Time.IsZero() {
		cm.Data["time"] = inv.Time.UTC().Format(time.RFC3339)
	}
	for k, v := range inv.Extra {
		if !extraKey.MatchString(k) {
			return nil, fmt.Errorf("inventory of app %s env %s: extra key %q must match %s", inv.App, inv.Env, k, extraKey)
		}
		cm.Data[ExtraPrefix+k] = v
	}
	sorted := &Inventory{Entries: inv.Entries}
	sorted.Normalize()
	var text strings.Builder
	for _, e := range sorted.Entries {
		text.WriteString(e.line())
		text.WriteByte('\n')
	}
	if text.Len() > opts.CompressAbove {
		gz, err := compress(text.String())
		if err != nil {
			return nil, err
		}
		cm.BinaryData = map[string][]byte{KeyObjectsGz: gz}
	} else {
		cm.Data[KeyObjects] = text.String()
	}
	if n := size(cm); n > opts.MaxBytes {
		return nil, fmt.Errorf("inventory of app %s env %s encodes to %d bytes, more than %d: %w", inv.App, inv.Env, n, opts.MaxBytes, ErrTooLarge)
	}
	return cm, nil
}

// FromConfigMap decodes an inventory. It refuses one whose size or number
// of entries is over the bounds. Every error is a *CorruptError (it
// matches ErrCorrupt, and ErrTooLarge when a bound was the cause).
func FromConfigMap(cm *corev1.ConfigMap, opts Options) (*Inventory, error) {
	inv, err := fromConfigMap(cm, opts)
	if err != nil {
		return nil, &CorruptError{Ref: "ConfigMap/" + cm.Namespace + "/" + cm.Name, Err: err}
	}
	return inv, nil
}

func fromConfigMap(cm *corev1.ConfigMap, opts Options) (*Inventory, error) {
	if n := size(cm); n > opts.MaxBytes {
		return nil, fmt.Errorf("%d bytes, more than %d: %w", n, opts.MaxBytes, ErrTooLarge)
	}
	d := cm.Data
	inv := &Inventory{
		App: d["app"], Env: d["env"], Revision: d["revision"], Digest: d["digest"],
		Result: d["result"], Message: d["message"], Health: d["health"],
	}
	if t := d["time"]; t != "" {
		tm, err := time.Parse(time.RFC3339, t)
		if err != nil {
			return nil, fmt.Errorf("time: %w", err)
		}
		inv.Time = tm
	}
	for k, v := range d {
		if rest, ok := strings.CutPrefix(k, ExtraPrefix); ok {
			if inv.Extra == nil {
				inv.Extra = map[string]string{}
			}
			inv.Extra[rest] = v
		}
	}
	text := d[KeyObjects]
	if gz, ok := cm.BinaryData[KeyObjectsGz]; ok {
		var err error
		if text, err = decompress(gz, int64(opts.MaxEntries)*maxLineBytes); err != nil {
			return nil, fmt.Errorf("%s: %w", KeyObjectsGz, err)
		}
	}
	if err := inv.parseEntries(text, opts.MaxEntries); err != nil {
		return nil, err
	}
	return inv, nil
}

func (inv *Inventory) parseEntries(text string, maxEntries int) error {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if len(inv.Entries) == maxEntries {
			return fmt.Errorf("more than %d objects: %w", maxEntries, ErrTooLarge)
		}
		e, err := parseLine(line)
		if err != nil {
			return err
		}
		inv.Entries = append(inv.Entries, e)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	inv.Normalize()
	return nil
}

func compress(s string) ([]byte, error) {
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(zw, s); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// decompress gunzips at most limit bytes, so that a small bomb is refused.
func decompress(gz []byte, limit int64) (string, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return "", err
	}
	defer zr.Close()
	b, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return "", err
	}
	if int64(len(b)) > limit {
		return "", fmt.Errorf("decompresses to more than %d bytes: %w", limit, ErrTooLarge)
	}
	return string(b), nil
}

func size(cm *corev1.ConfigMap) int {
	n := 0
	for k, v := range cm.Data {
		n += len(k) + len(v)
	}
	for k, v := range cm.BinaryData {
		n += len(k) + len(v)
	}
	return n
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n-3], "") + "..."
}

// labelValue returns v when it is a valid label value, else a hash of it.
func labelValue(v string) string {
	if len(validation.IsValidLabelValue(v)) == 0 {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return "h-" + hex.EncodeToString(sum[:10])
}
