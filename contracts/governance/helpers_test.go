package governance_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/governance"
	"github.com/medchain/medchain/contracts/hekeys"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/genesis"
)

// key derives an ed25519 key from a name, the same in every run.
func key(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("governance test key/" + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func pub(name string) []byte { return key(name).Public().(ed25519.PublicKey) }

func addr(name string) string { return pb.AddressOf(pub(name)) }

// sealPub is a stand-in X25519 public key: 32 bytes, unique per name.
func sealPub(name string) []byte {
	h := sha256.Sum256([]byte("governance test seal/" + name))
	return h[:]
}

// emptyStore is a KVStore holding nothing; a contracts.Cache over it is
// an in-memory state.
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

// alliance is an in-memory chain state of n founding hospitals h1…hn with
// HE (t = n − ⌊(n−1)/3⌋) and research, a researcher and an auditor, and
// voting_deadline_blocks = 10.
type alliance struct {
	t      *testing.T
	st     *contracts.Cache
	router *contracts.Router
	height int64
	// updates are the validator updates of every tx that succeeded.
	updates []contracts.ValidatorUpdate
	events  []contracts.Event
}

const votingDeadline = 10

func newAlliance(t *testing.T, n int) *alliance {
	t.Helper()
	s := &genesis.AppState{
		Alliance:   "Test",
		Params:     genesis.DefaultParams(),
		HE:         genesis.DefaultHE(n),
		Research:   genesis.DefaultResearch(),
		Governance: &genesis.Governance{VotingDeadlineBlocks: votingDeadline},
		Accounts: []genesis.Account{
			{PubKey: pub("researcher"), Role: "researcher", Label: "lab"},
			{PubKey: pub("auditor"), Role: "auditor", Label: "audit"},
		},
	}
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("h%d", i)
		s.Hospitals = append(s.Hospitals, genesis.Hospital{
			ID: id, Name: "Hospital " + id, ValidatorPubKey: pub("val-" + id), Power: 10,
			OperatorPubKey: pub("op-" + id), SealPubKey: sealPub(id),
		})
	}
	st := contracts.NewCache(emptyStore{})
	if err := accounts.InitGenesis(st, s); err != nil {
		t.Fatal(err)
	}
	if err := hekeys.InitGenesis(st); err != nil {
		t.Fatal(err)
	}
	return &alliance{t: t, st: st, router: contracts.NewRouter(governance.Handlers()...), height: 1}
}

// send runs one tx of signer (an account address) as FinalizeBlock does:
// decode and validate, authorize the role, execute on a cache written back
// only on success. It returns the tx's error.
func (a *alliance) send(signer, txType string, msg proto.Message) error {
	a.t.Helper()
	bz, err := proto.Marshal(msg)
	if err != nil {
		a.t.Fatal(err)
	}
	p, err := a.router.Prepare(txType, bz)
	if err != nil {
		return err
	}
	acc, err := accounts.GetAccount(a.st, signer)
	if err != nil || acc == nil {
		a.t.Fatalf("signer %s: %v, %v", signer, acc, err)
	}
	if err := p.Authorize(acc.Role); err != nil {
		return err
	}
	cache := contracts.NewCache(a.st)
	ctx := contracts.NewContext(contracts.Block{Height: a.height, Time: time.Unix(a.height, 0), ChainID: "gov-test"}, cache, acc, 0)
	if err := p.Handler.Exec(ctx, p.Msg); err != nil {
		return err
	}
	if err := cache.Write(); err != nil {
		a.t.Fatal(err)
	}
	a.updates = append(a.updates, ctx.ValidatorUpdates()...)
	a.events = append(a.events, ctx.Events()...)
	return nil
}

// propose sends a proposal by hospital hid's operator.
func (a *alliance) propose(hid string, m *pb.Propose) error {
	a.t.Helper()
	return a.send(addr("op-"+hid), governance.TypePropose, m)
}

func (a *alliance) vote(hid string, id uint64, yes bool) error {
	a.t.Helper()
	return a.send(addr("op-"+hid), governance.TypeVote, &pb.Vote{Proposal: id, Yes: yes})
}

// endBlock runs the contract's end-block work at the current height and
// moves to the next.
func (a *alliance) endBlock() {
	a.t.Helper()
	ctx := contracts.NewBlockContext(contracts.Block{Height: a.height, ChainID: "gov-test"}, a.st)
	if err := governance.EndBlock(ctx); err != nil {
		a.t.Fatal(err)
	}
	a.events = append(a.events, ctx.Events()...)
	a.height++
}

func (a *alliance) proposal(id uint64) *pb.Proposal {
	a.t.Helper()
	p, err := governance.GetProposal(a.st, id)
	if err != nil || p == nil {
		a.t.Fatalf("proposal %d: %v, %v", id, p, err)
	}
	return p
}

func (a *alliance) hospital(id string) *pb.Hospital {
	a.t.Helper()
	h, err := accounts.GetHospital(a.st, id)
	if err != nil {
		a.t.Fatal(err)
	}
	return h
}

func (a *alliance) account(address string) *pb.Account {
	a.t.Helper()
	acc, err := accounts.GetAccount(a.st, address)
	if err != nil {
		a.t.Fatal(err)
	}
	return acc
}

func (a *alliance) params() *pb.Params {
	a.t.Helper()
	p, err := accounts.GetParams(a.st)
	if err != nil {
		a.t.Fatal(err)
	}
	return p
}

// epoch returns key epoch e, or nil.
func (a *alliance) epoch(e uint64) *pb.KeyEpoch {
	a.t.Helper()
	ep, err := hekeys.GetEpoch(a.st, e)
	if err != nil {
		a.t.Fatal(err)
	}
	return ep
}

// dump is every key and value of the state, to show a refusal changed
// nothing.
func (a *alliance) dump() string {
	a.t.Helper()
	it, err := a.st.Iterator(nil, nil, true)
	if err != nil {
		a.t.Fatal(err)
	}
	defer it.Close()
	var b strings.Builder
	for ; it.Valid(); it.Next() {
		fmt.Fprintf(&b, "%x=%x\n", it.Key(), it.Value())
	}
	return b.String()
}

// passAll has every member of proposal id's electorate not yet voted vote
// yes, until it is decided.
func (a *alliance) passAll(id uint64) {
	a.t.Helper()
	for _, hid := range a.proposal(id).Electorate {
		p := a.proposal(id)
		if p.Status != pb.Proposal_STATUS_OPEN {
			return
		}
		if contains(p.Yes, hid) || contains(p.No, hid) {
			continue
		}
		if err := a.vote(hid, id, true); err != nil {
			a.t.Fatalf("%s votes yes on %d: %v", hid, id, err)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// eventAttrs returns the attributes of the last event of type typ.
func (a *alliance) eventAttrs(typ string) map[string]string {
	for i := len(a.events) - 1; i >= 0; i-- {
		if a.events[i].Type == typ {
			m := map[string]string{}
			for _, at := range a.events[i].Attrs {
				m[at.Key] = at.Value
			}
			return m
		}
	}
	return nil
}

func admitMsg(id string) *pb.Propose {
	return &pb.Propose{Action: &pb.Propose_AdmitHospital{AdmitHospital: &pb.AdmitHospital{
		Id: id, Name: "Hospital " + id, ValidatorPubkey: pub("val-" + id), Power: 7,
		OperatorPubkey: pub("op-" + id), SealPubkey: sealPub(id),
	}}, Reason: "a new member"}
}

func removeMsg(id string) *pb.Propose {
	return &pb.Propose{Action: &pb.Propose_RemoveHospital{RemoveHospital: &pb.RemoveHospital{Id: id}}}
}

func registerMsg(name string, role pb.Role) *pb.Propose {
	return &pb.Propose{Action: &pb.Propose_RegisterAccount{RegisterAccount: &pb.RegisterAllianceAccount{Role: role, Pubkey: pub(name), Label: name}}}
}

func retireMsg(address string) *pb.Propose {
	return &pb.Propose{Action: &pb.Propose_RetireAccount{RetireAccount: &pb.RetireAccount{Address: address}}}
}

func grantMsg(address string, rho uint64) *pb.Propose {
	return &pb.Propose{Action: &pb.Propose_GrantBudget{GrantBudget: &pb.GrantBudget{Researcher: address, RhoMicro: rho}}}
}

func setMsg(s *pb.SetParams) *pb.Propose {
	return &pb.Propose{Action: &pb.Propose_SetParams{SetParams: s}}
}

func u64p(v uint64) *uint64 { return &v }
func u32p(v uint32) *uint32 { return &v }
