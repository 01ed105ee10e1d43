package oci

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"strings"

	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
)

// Cosign's classic signature format.
const (
	cosignPayloadType   = "application/vnd.dev.cosign.simplesigning.v1+json"
	cosignSignatureKey  = "dev.cosignproject.cosign/signature"
	maxSignaturePayload = 64 << 10
	maxPublicKeyBytes   = 64 << 10
)

// verify checks that a cosign signature of digest, made with the key in
// ref.Verify.PublicKeyFile, is in the registry. Any failure is
// ErrUnverified.
func verify(ctx context.Context, rp *remote.Repository, ref Ref, digest string) error {
	pub, err := loadPublicKey(ref.Verify.PublicKeyFile)
	if err != nil {
		return err
	}
	tag := strings.Replace(digest, ":", "-", 1) + ".sig"
	man, err := fetchManifest(ctx, rp, tag)
	if err != nil {
		return fmt.Errorf("%w: no cosign signature for %s (tag %s)", ErrUnverified, digest, tag)
	}
	for _, l := range man.Layers {
		sig, ok := l.Annotations[cosignSignatureKey]
		if l.MediaType != cosignPayloadType || !ok || l.Size > maxSignaturePayload {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		rc, err := rp.Fetch(ctx, l)
		if err != nil {
			return fmt.Errorf("signature payload: %w", err)
		}
		payload, err := content.ReadAll(rc, l)
		rc.Close()
		if err != nil {
			return fmt.Errorf("signature payload: %w", err)
		}
		if checkSignature(pub, payload, raw) && payloadNames(payload, digest) {
			return nil
		}
	}
	return fmt.Errorf("%w: no signature of %s verifies with %s", ErrUnverified, digest, ref.Verify.PublicKeyFile)
}

func checkSignature(pub crypto.PublicKey, payload, sig []byte) bool {
	sum := sha256.Sum256(payload)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(k, sum[:], sig)
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) == nil || rsa.VerifyPSS(k, crypto.SHA256, sum[:], sig, nil) == nil
	case ed25519.PublicKey:
		return ed25519.Verify(k, payload, sig)
	}
	return false
}

// payloadNames reports whether a simple-signing payload signs digest.
func payloadNames(payload []byte, digest string) bool {
	var p struct {
		Critical struct {
			Image struct {
				Digest string `json:"docker-manifest-digest"`
			} `json:"image"`
			Type string `json:"type"`
		} `json:"critical"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return false
	}
	return p.Critical.Image.Digest == digest && p.Critical.Type == "cosign container image signature"
}

// loadPublicKey reads a PEM public key.
func loadPublicKey(file string) (crypto.PublicKey, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read public key %s", ErrUnverified, file)
	}
	if len(b) > maxPublicKeyBytes {
		return nil, fmt.Errorf("%w: public key %s is too large", ErrUnverified, file)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%w: public key %s is not PEM", ErrUnverified, file)
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: public key %s: %v", ErrUnverified, file, err)
	}
	return pub, nil
}
