package accounts

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
)

// TypeRegister is the tx type of RegisterAccount.
const TypeRegister = "account.register"

// EventRegistered is emitted when an account is created.
const EventRegistered = "account.registered"

// Handlers returns this contract's tx handlers.
func Handlers() []contracts.Handler {
	return []contracts.Handler{{
		Type:     TypeRegister,
		Roles:    []pb.Role{pb.Role_ROLE_OPERATOR},
		New:      func() proto.Message { return &pb.RegisterAccount{} },
		Validate: func(m proto.Message) error { return validateRegister(m.(*pb.RegisterAccount)) },
		Exec:     func(ctx *contracts.Context, m proto.Message) error { return execRegister(ctx, m.(*pb.RegisterAccount)) },
	}}
}

func validateRegister(m *pb.RegisterAccount) error {
	if len(m.Pubkey) != ed25519.PublicKeySize {
		return fmt.Errorf("pubkey is %d bytes, want %d", len(m.Pubkey), ed25519.PublicKeySize)
	}
	if m.Role != pb.Role_ROLE_DOCTOR && m.Role != pb.Role_ROLE_PATIENT {
		return fmt.Errorf("role %s: a hospital registers doctors and patients only (researchers, auditors and operators come from governance)", m.Role)
	}
	if m.Label == "" {
		return errors.New("label is empty; give a short non-identifying label")
	}
	return nil
}

// execRegister: the operator's hospital becomes the account's hospital.
func execRegister(ctx *contracts.Context, m *pb.RegisterAccount) error {
	params, err := GetParams(ctx.Store)
	if err != nil {
		return err
	}
	if uint64(len(m.Label)) > params.MaxLabelBytes {
		return fmt.Errorf("%w: label is %d bytes, the limit is %d", contracts.ErrInvalidPayload, len(m.Label), params.MaxLabelBytes)
	}
	addr := pb.AddressOf(m.Pubkey)
	existing, err := GetAccount(ctx.Store, addr)
	if err != nil {
		return err
	}
	if existing != nil {
		return fmt.Errorf("%w: account %s", contracts.ErrExists, addr)
	}
	acc := &pb.Account{
		Address: addr, Pubkey: m.Pubkey, Role: m.Role, Hospital: ctx.Signer.Hospital,
		Label: m.Label, CreatedHeight: ctx.Block.Height,
	}
	if err := SetAccount(ctx.Store, acc); err != nil {
		return err
	}
	ctx.Emit(EventRegistered,
		contracts.Attr{Key: "address", Value: addr, Index: true},
		contracts.Attr{Key: "role", Value: m.Role.String(), Index: true},
		contracts.Attr{Key: "hospital", Value: acc.Hospital, Index: true},
		contracts.Attr{Key: "by", Value: ctx.Signer.Address, Index: true},
		contracts.Attr{Key: "height", Value: strconv.FormatInt(ctx.Block.Height, 10)},
	)
	return nil
}
