package accounts

import (
	"fmt"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/genesis"
)

// InitGenesis writes the founding alliance into state. s is already
// validated; the writes happen in the slice order given, which is the
// genesis file's order, so every node writes the same state.
func InitGenesis(w contracts.KVStore, s *genesis.AppState) error {
	params := s.Params.Proto()
	if s.HE != nil {
		params.He = s.HE.Proto()
	}
	if s.Research != nil {
		params.Research = s.Research.Proto()
	}
	if s.Governance != nil {
		params.Gov = s.Governance.Proto()
	}
	if err := set(w, ParamsKey(), params); err != nil {
		return err
	}
	for i, h := range s.Hospitals {
		op := pb.AddressOf(h.OperatorPubKey)
		if err := set(w, HospitalKey(h.ID), &pb.Hospital{
			Id: h.ID, Name: h.Name, ValidatorPubkey: h.ValidatorPubKey, Power: h.Power, Operator: op,
			MemberIndex: uint64(i + 1), SealPubkey: h.SealPubKey,
		}); err != nil {
			return err
		}
		if err := SetAccount(w, &pb.Account{
			Address: op, Pubkey: h.OperatorPubKey, Role: pb.Role_ROLE_OPERATOR, Hospital: h.ID, Label: h.Name + " operator",
		}); err != nil {
			return err
		}
	}
	for _, a := range s.Accounts {
		role, err := genesis.RoleFromString(a.Role)
		if err != nil {
			return fmt.Errorf("%w: %v", contracts.ErrGenesis, err)
		}
		if err := SetAccount(w, &pb.Account{
			Address: pb.AddressOf(a.PubKey), Pubkey: a.PubKey, Role: role, Label: a.Label,
		}); err != nil {
			return err
		}
	}
	return nil
}
