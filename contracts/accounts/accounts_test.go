package accounts

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/genesis"
)

// emptyStore is a KVStore holding nothing; a contracts.Cache over it is an
// in-memory state for tests.
type emptyStore struct{}

func (emptyStore) Get([]byte) ([]byte, error)                                { return nil, nil }
func (emptyStore) Set([]byte, []byte) error                                  { return errors.New("emptyStore is read-only") }
func (emptyStore) Delete([]byte) error                                       { return errors.New("emptyStore is read-only") }
func (emptyStore) Iterator([]byte, []byte, bool) (contracts.Iterator, error) { return emptyIter{}, nil }

type emptyIter struct{}

func (emptyIter) Valid() bool   { return false }
func (emptyIter) Next()         {}
func (emptyIter) Key() []byte   { return nil }
func (emptyIter) Value() []byte { return nil }
func (emptyIter) Error() error  { return nil }
func (emptyIter) Close() error  { return nil }

func pubKey(name string) ed25519.PublicKey {
	seed := sha256.Sum256([]byte("accounts test key/" + name))
	return ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
}

// genesisState has hospitals h2 and h1 (out of id order) and a researcher.
func genesisState() *genesis.AppState {
	return &genesis.AppState{
		Alliance: "Test",
		Hospitals: []genesis.Hospital{
			{ID: "h2", Name: "Two", ValidatorPubKey: pubKey("v2"), Power: 2, OperatorPubKey: pubKey("op2")},
			{ID: "h1", Name: "One", ValidatorPubKey: pubKey("v1"), Power: 1, OperatorPubKey: pubKey("op1")},
		},
		Accounts: []genesis.Account{{PubKey: pubKey("researcher"), Role: "researcher", Label: "lab"}},
		Params:   genesis.Params{MaxTxBytes: 4096, MaxMemoBytes: 100, MaxLabelBytes: 10},
	}
}

// newState returns an in-memory state after InitGenesis of genesisState.
func newState(t *testing.T) *contracts.Cache {
	t.Helper()
	st := contracts.NewCache(emptyStore{})
	if err := InitGenesis(st, genesisState()); err != nil {
		t.Fatalf("InitGenesis: %v", err)
	}
	return st
}

func TestInitGenesisWritesTheFoundingAlliance(t *testing.T) {
	st := newState(t)
	s := genesisState()

	p, err := GetParams(st)
	if err != nil || !proto.Equal(p, s.Params.Proto()) {
		t.Fatalf("GetParams = %v, %v", p, err)
	}
	hs, err := Hospitals(st)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 2 || hs[0].Id != "h1" || hs[1].Id != "h2" {
		t.Fatalf("Hospitals = %v, want h1 then h2", hs)
	}
	for _, h := range s.Hospitals {
		t.Run("hospital "+h.ID+" and its operator are in state", func(t *testing.T) {
			got, err := GetHospital(st, h.ID)
			if err != nil || got == nil {
				t.Fatalf("GetHospital = %v, %v", got, err)
			}
			op := pb.AddressOf(h.OperatorPubKey)
			if got.Operator != op || got.Power != h.Power || !bytes.Equal(got.ValidatorPubkey, h.ValidatorPubKey) {
				t.Errorf("hospital = %v", got)
			}
			acc, err := GetAccount(st, op)
			if err != nil || acc == nil {
				t.Fatalf("GetAccount(operator) = %v, %v", acc, err)
			}
			if acc.Role != pb.Role_ROLE_OPERATOR || acc.Hospital != h.ID || acc.Sequence != 0 || !bytes.Equal(acc.Pubkey, h.OperatorPubKey) {
				t.Errorf("operator account = %v", acc)
			}
		})
	}
	t.Run("the researcher is an alliance-wide account", func(t *testing.T) {
		acc, err := GetAccount(st, pb.AddressOf(pubKey("researcher")))
		if err != nil || acc == nil || acc.Role != pb.Role_ROLE_RESEARCHER || acc.Hospital != "" {
			t.Fatalf("researcher = %v, %v", acc, err)
		}
	})
}

func TestReadsOfAbsentRecords(t *testing.T) {
	st := contracts.NewCache(emptyStore{})
	if acc, err := GetAccount(st, pb.AddressOf(pubKey("nobody"))); acc != nil || err != nil {
		t.Errorf("GetAccount of an absent account = %v, %v; want nil, nil", acc, err)
	}
	if h, err := GetHospital(st, "h9"); h != nil || err != nil {
		t.Errorf("GetHospital of an absent hospital = %v, %v; want nil, nil", h, err)
	}
	if _, err := GetParams(st); !errors.Is(err, contracts.ErrNotFound) {
		t.Errorf("GetParams on an empty state = %v, want ErrNotFound", err)
	}
	if _, err := GetAccount(st, "mc1XYZ"); err == nil {
		t.Error("GetAccount of a malformed address succeeded")
	}
	if err := SetAccount(st, &pb.Account{Address: "alice"}); err == nil {
		t.Error("SetAccount with a malformed address succeeded")
	}
}

func TestACorruptRecordIsAnError(t *testing.T) {
	st := contracts.NewCache(emptyStore{})
	addr, _ := pb.ParseAddress(pb.AddressOf(pubKey("x")))
	if err := st.Set(AccountKey(addr), []byte{0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	if _, err := GetAccount(st, pb.AddressOf(pubKey("x"))); err == nil {
		t.Fatal("a corrupt account record decoded")
	}
}

func TestRegister(t *testing.T) {
	op1 := pb.AddressOf(pubKey("op1"))
	h := Handlers()
	if len(h) != 1 || h[0].Type != TypeRegister {
		t.Fatalf("Handlers = %v", h)
	}
	router := contracts.NewRouter(h...)
	newcomer := pubKey("newcomer")

	tests := []struct {
		name string
		msg  *pb.RegisterAccount
		// stateless is the error Prepare must give (nil = prepared).
		stateless error
		// exec is the error Exec must give (nil = registered).
		exec error
	}{
		{"an operator registers a patient", &pb.RegisterAccount{Pubkey: newcomer, Role: pb.Role_ROLE_PATIENT, Label: "p"}, nil, nil},
		{"an operator registers a doctor", &pb.RegisterAccount{Pubkey: newcomer, Role: pb.Role_ROLE_DOCTOR, Label: "dr"}, nil, nil},
		{"a label of exactly max_label_bytes is accepted", &pb.RegisterAccount{Pubkey: newcomer, Role: pb.Role_ROLE_DOCTOR, Label: strings.Repeat("l", 10)}, nil, nil},
		{"a short key is refused", &pb.RegisterAccount{Pubkey: newcomer[:31], Role: pb.Role_ROLE_PATIENT, Label: "p"}, contracts.ErrInvalidPayload, nil},
		{"a missing key is refused", &pb.RegisterAccount{Role: pb.Role_ROLE_PATIENT, Label: "p"}, contracts.ErrInvalidPayload, nil},
		{"registering an operator is refused", &pb.RegisterAccount{Pubkey: newcomer, Role: pb.Role_ROLE_OPERATOR, Label: "op"}, contracts.ErrInvalidPayload, nil},
		{"registering a researcher is refused", &pb.RegisterAccount{Pubkey: newcomer, Role: pb.Role_ROLE_RESEARCHER, Label: "r"}, contracts.ErrInvalidPayload, nil},
		{"an unspecified role is refused", &pb.RegisterAccount{Pubkey: newcomer, Label: "x"}, contracts.ErrInvalidPayload, nil},
		{"an unknown role number is refused", &pb.RegisterAccount{Pubkey: newcomer, Role: pb.Role(42), Label: "x"}, contracts.ErrInvalidPayload, nil},
		{"an empty label is refused", &pb.RegisterAccount{Pubkey: newcomer, Role: pb.Role_ROLE_PATIENT}, contracts.ErrInvalidPayload, nil},
		{"a label over max_label_bytes is refused when executed", &pb.RegisterAccount{Pubkey: newcomer, Role: pb.Role_ROLE_PATIENT, Label: strings.Repeat("l", 11)}, nil, contracts.ErrInvalidPayload},
		{"an existing account is not registered again", &pb.RegisterAccount{Pubkey: pubKey("op2"), Role: pb.Role_ROLE_PATIENT, Label: "p"}, nil, contracts.ErrExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bz, err := proto.Marshal(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			p, err := router.Prepare(TypeRegister, bz)
			if tt.stateless != nil {
				if !errors.Is(err, tt.stateless) {
					t.Fatalf("Prepare = %v, want %v", err, tt.stateless)
				}
				return
			}
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			st := newState(t)
			signer, err := GetAccount(st, op1)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Authorize(signer.Role); err != nil {
				t.Fatalf("an operator may not register: %v", err)
			}
			before, _ := GetAccount(st, pb.AddressOf(tt.msg.Pubkey))
			ctx := contracts.NewContext(contracts.Block{Height: 7, Time: time.Unix(1, 0), ChainID: "c"}, st, signer, 3)
			err = p.Handler.Exec(ctx, p.Msg)
			if tt.exec != nil {
				if !errors.Is(err, tt.exec) {
					t.Fatalf("Exec = %v, want %v", err, tt.exec)
				}
				if after, _ := GetAccount(st, pb.AddressOf(tt.msg.Pubkey)); !proto.Equal(before, after) {
					t.Fatalf("a refused registration changed the account: %v -> %v", before, after)
				}
				return
			}
			if err != nil {
				t.Fatalf("Exec: %v", err)
			}
			addr := pb.AddressOf(tt.msg.Pubkey)
			acc, err := GetAccount(st, addr)
			if err != nil || acc == nil {
				t.Fatalf("GetAccount = %v, %v", acc, err)
			}
			want := &pb.Account{Address: addr, Pubkey: tt.msg.Pubkey, Role: tt.msg.Role, Hospital: "h1", Label: tt.msg.Label, CreatedHeight: 7}
			if !proto.Equal(acc, want) {
				t.Errorf("account = %v, want %v", acc, want)
			}
			ev := ctx.Events()
			if len(ev) != 1 || ev[0].Type != EventRegistered {
				t.Fatalf("events = %+v", ev)
			}
			got := map[string]string{}
			for _, a := range ev[0].Attrs {
				got[a.Key] = a.Value
			}
			if got["address"] != addr || got["hospital"] != "h1" || got["by"] != op1 || got["role"] != tt.msg.Role.String() || got["height"] != "7" {
				t.Errorf("event attributes = %v", got)
			}
		})
	}
}

func TestOnlyOperatorsMayRegister(t *testing.T) {
	p, err := contracts.NewRouter(Handlers()...).Prepare(TypeRegister,
		func() []byte {
			b, _ := proto.Marshal(&pb.RegisterAccount{Pubkey: pubKey("x"), Role: pb.Role_ROLE_PATIENT, Label: "x"})
			return b
		}())
	if err != nil {
		t.Fatal(err)
	}
	for role := pb.Role(0); int(role) < len(pb.Role_name); role++ {
		t.Run(role.String()+" may register only if an operator", func(t *testing.T) {
			err := p.Authorize(role)
			if (role == pb.Role_ROLE_OPERATOR) != (err == nil) {
				t.Fatalf("Authorize(%s) = %v", role, err)
			}
		})
	}
}
