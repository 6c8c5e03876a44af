package abci

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/governance"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/genesis"
)

// govChain is a five-member HE alliance (t = 4) whose proposals expire
// after 3 blocks.
type govChain struct {
	appState   []byte
	validators []abcitypes.ValidatorUpdate
	ops        []user // ops[i] runs hospital h<i+1>
}

func govValidator(i int) ed25519.PublicKey {
	return testKey(fmt.Sprintf("gov-validator%d", i)).Public().(ed25519.PublicKey)
}

func govSeal(i int) []byte {
	h := sha256.Sum256([]byte(fmt.Sprintf("gov seal %d", i)))
	return h[:]
}

func newGovChain(t *testing.T) *govChain {
	t.Helper()
	c := &govChain{}
	s := genesis.AppState{
		Alliance: "Gov Alliance", Params: genesis.DefaultParams(), HE: genesis.DefaultHE(5),
		Governance: &genesis.Governance{VotingDeadlineBlocks: 3},
	}
	for i := 1; i <= 6; i++ {
		c.ops = append(c.ops, newUser(fmt.Sprintf("gov-op%d", i)))
		if i == 6 {
			break // h6 is admitted by vote
		}
		s.Hospitals = append(s.Hospitals, genesis.Hospital{
			ID: fmt.Sprintf("h%d", i), Name: fmt.Sprintf("Hospital %d", i), ValidatorPubKey: govValidator(i), Power: 10,
			OperatorPubKey: c.ops[i-1].pub(), SealPubKey: govSeal(i),
		})
		c.validators = append(c.validators, abcitypes.UpdateValidator(govValidator(i), 10, "ed25519"))
	}
	var err error
	if c.appState, err = json.Marshal(s); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *govChain) newApp(t *testing.T) *App {
	t.Helper()
	app, _ := openApp(t, t.TempDir())
	if _, err := app.InitChain(t.Context(), &abcitypes.RequestInitChain{
		Time: blockTime(0), ChainId: testChainID, Validators: c.validators, AppStateBytes: c.appState, InitialHeight: 1,
	}); err != nil {
		t.Fatalf("InitChain: %v", err)
	}
	return app
}

// TestGovernanceOnTwinApps: two nodes fed the same blocks admit a sixth
// hospital and remove one, return the same validator updates in the block
// of the deciding vote, and reach the same app hash at every height.
func TestGovernanceOnTwinApps(t *testing.T) {
	c := newGovChain(t)
	w := &twinApps{t: t, apps: [2]*App{c.newApp(t), c.newApp(t)}, nonces: map[string]uint64{}}
	op := func(i int) user { return c.ops[i-1] }
	vote := func(i int, id uint64, yes bool, want string) {
		w.tx(op(i), governance.TypeVote, &pb.Vote{Proposal: id, Yes: yes}, want)
	}
	noUpdates := func(r *abcitypes.ResponseFinalizeBlock) {
		t.Helper()
		if len(r.ValidatorUpdates) != 0 {
			t.Fatalf("height %d: validator updates %v, want none", w.height, r.ValidatorUpdates)
		}
	}
	noUpdates(w.run(abcitypes.CommitInfo{}))

	admit := &pb.Propose{Action: &pb.Propose_AdmitHospital{AdmitHospital: &pb.AdmitHospital{
		Id: "h6", Name: "Hospital 6", ValidatorPubkey: govValidator(6), Power: 7, OperatorPubkey: op(6).pub(), SealPubkey: govSeal(6),
	}}}
	w.tx(op(1), governance.TypePropose, admit, "ok")
	if r := checkTx(t, w.apps[0], signedTx(t, op(2), 0, governance.TypeVote, &pb.Vote{Proposal: 1, Yes: true}), abcitypes.CheckTxType_New); r.Code != 0 {
		t.Fatalf("CheckTx of a vote: %d %s", r.Code, r.Log)
	}
	noUpdates(w.run(abcitypes.CommitInfo{}))

	t.Run("the deciding vote's block returns the new validator", func(t *testing.T) {
		vote(2, 1, true, "ok")
		vote(2, 1, true, "already_voted")
		vote(3, 1, true, "ok")
		w.tx(op(1), governance.TypeVote, &pb.Vote{Proposal: 1, Yes: true}, "already_voted")
		vote(4, 1, true, "ok") // 4 of 5: passes
		vote(5, 1, true, "voting_closed")
		r := w.run(abcitypes.CommitInfo{})
		want := []abcitypes.ValidatorUpdate{abcitypes.UpdateValidator(govValidator(6), 7, "ed25519")}
		if len(r.ValidatorUpdates) != 1 || r.ValidatorUpdates[0].String() != want[0].String() {
			t.Fatalf("validator updates = %v, want %v", r.ValidatorUpdates, want)
		}
		if v, _ := attr(r.TxResults[4].Events, governance.EventExecuted, "outcome"); v != "ok" {
			t.Fatalf("the deciding vote's events: %v", r.TxResults[4].Events)
		}
		var ep pb.KeyEpoch
		if err := tx.Unmarshal(w.query("/he/epoch/2", false).Value, &ep); err != nil || len(ep.Members) != 6 || ep.Threshold != 4 {
			t.Fatalf("key epoch 2 = %v, %v", &ep, err)
		}
	})

	t.Run("removing a member returns its validator with power 0", func(t *testing.T) {
		w.tx(op(1), governance.TypePropose, &pb.Propose{Action: &pb.Propose_RemoveHospital{RemoveHospital: &pb.RemoveHospital{Id: "h2"}}}, "ok")
		vote(3, 2, true, "ok")
		vote(4, 2, true, "ok")
		vote(5, 2, true, "ok") // 4 of 6 is exactly two thirds: not enough
		noUpdates(w.run(abcitypes.CommitInfo{}))
		vote(6, 2, true, "ok") // the admitted member's vote decides
		r := w.run(abcitypes.CommitInfo{})
		want := abcitypes.UpdateValidator(govValidator(2), 0, "ed25519")
		if len(r.ValidatorUpdates) != 1 || r.ValidatorUpdates[0].String() != want.String() {
			t.Fatalf("validator updates = %v, want %v", r.ValidatorUpdates, want)
		}
		w.tx(op(2), governance.TypePropose, &pb.Propose{Action: &pb.Propose_RemoveHospital{RemoveHospital: &pb.RemoveHospital{Id: "h3"}}}, "unauthorized")
		noUpdates(w.run(abcitypes.CommitInfo{}))
	})

	t.Run("an undecided proposal expires at its deadline on both nodes", func(t *testing.T) {
		w.tx(op(1), governance.TypePropose, &pb.Propose{Action: &pb.Propose_RegisterAccount{RegisterAccount: &pb.RegisterAllianceAccount{
			Role: pb.Role_ROLE_AUDITOR, Pubkey: newUser("gov-auditor").pub(), Label: "audit",
		}}}, "ok")
		var expired bool
		for range 4 {
			r := w.run(abcitypes.CommitInfo{})
			_, found := attr(r.Events, governance.EventExpired, "id")
			expired = expired || found
		}
		if !expired {
			t.Fatal("no gov.expired event")
		}
	})

	t.Run("proposals are queried with proofs and listed newest first", func(t *testing.T) {
		q := w.query("/gov/proposal/1", true)
		if q.ProofOps == nil || len(q.ProofOps.Ops) != 1 {
			t.Fatal("no proof")
		}
		var p pb.Proposal
		if err := tx.Unmarshal(q.Value, &p); err != nil || p.Status != pb.Proposal_STATUS_EXECUTED || p.KeyEpoch != 2 {
			t.Fatalf("proposal 1 = %v, %v", &p, err)
		}
		var l pb.ProposalList
		if err := tx.Unmarshal(w.query("/gov/proposals", false).Value, &l); err != nil || len(l.Proposals) != 3 || l.Proposals[0].Id != 3 {
			t.Fatalf("list = %v, %v", &l, err)
		}
		if l.Proposals[0].Status != pb.Proposal_STATUS_EXPIRED {
			t.Fatalf("proposal 3 = %s", l.Proposals[0].Status)
		}
		bad, err := w.apps[0].Query(t.Context(), &abcitypes.RequestQuery{Path: "/gov/proposal/x"})
		if err != nil || bad.Code != codeNamed(t, "bad_query") {
			t.Fatalf("bad path = %+v, %v", bad, err)
		}
	})
	if !bytes.Equal(info(t, w.apps[0]).LastBlockAppHash, info(t, w.apps[1]).LastBlockAppHash) {
		t.Fatal("app hashes differ at the end")
	}
}
