package sops

import (
	"context"

	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/keyservice"
	"google.golang.org/grpc"
)

// ageService is a sops key service that opens data keys with the age
// identities of one Keys, in memory: it never reads the environment,
// files or a key agent, so a source can only use its own keys.
type ageService struct{ keys *Keys }

var _ keyservice.KeyServiceClient = ageService{}

func (s ageService) Decrypt(_ context.Context, req *keyservice.DecryptRequest, _ ...grpc.CallOption) (*keyservice.DecryptResponse, error) {
	k := req.GetKey().GetAgeKey()
	if k == nil || s.keys.Len() == 0 {
		return nil, errNotAge
	}
	mk := &sopsage.MasterKey{Recipient: k.GetRecipient(), EncryptedKey: string(req.GetCiphertext())}
	s.keys.ids.ApplyToMasterKey(mk)
	plain, err := mk.Decrypt()
	if err != nil {
		return nil, ErrNoKey
	}
	return &keyservice.DecryptResponse{Plaintext: plain}, nil
}

func (s ageService) Encrypt(context.Context, *keyservice.EncryptRequest, ...grpc.CallOption) (*keyservice.EncryptResponse, error) {
	return nil, errNotAge
}
