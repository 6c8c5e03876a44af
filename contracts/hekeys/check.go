package hekeys

import (
	"fmt"

	"golang.org/x/crypto/nacl/box"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
)

// checkForm validates every HE blob of a payload byte by byte against the
// alliance's parameters, so a malformed blob is refused in CheckTx and
// never reaches a block (see contracts.Handler.Check). The handlers check
// again when they run.
func checkForm(r contracts.Reader, m proto.Message) error {
	p, _, err := Params(r)
	if err != nil {
		return err
	}
	switch m := m.(type) {
	case *pb.PostKeyShare:
		if err := p.ValidatePublicKeyShare(m.PublicKeyShare); err != nil {
			return invalid("public_key_share: %v", err)
		}
		want := p.ThresholdShareSize() + box.AnonymousOverhead
		for i, s := range m.Shares {
			if len(s.Sealed) != want {
				return invalid("shares[%d] is %d bytes, a sealed threshold share is %d", i, len(s.Sealed), want)
			}
		}
	case *pb.SubmitCiphertext:
		if err := p.ValidateCiphertext(m.Ciphertext); err != nil {
			return invalid("ciphertext: %v", err)
		}
	case *pb.RequestDecryption:
		if m.Public {
			break // Validate refused a public request with a key
		}
		if err := p.ValidateResearcherKey(m.ResearcherKey); err != nil {
			return invalid("researcher_key: %v", err)
		}
	case *pb.PostKeySwitchShare:
		// Either form, by its size: which one the request takes is state,
		// checked in Exec.
		validate := p.ValidateKeySwitchShare
		if len(m.Share) == p.DecryptShareSize() {
			validate = p.ValidateDecryptShare
		}
		if err := validate(m.Share); err != nil {
			return invalid("share: %v", err)
		}
	default:
		return fmt.Errorf("hekeys: no form check for %T", m)
	}
	return nil
}
