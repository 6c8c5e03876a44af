package governance_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/governance"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/research"
)

func TestPassesNeedsStrictlyMoreThanTwoThirds(t *testing.T) {
	tests := []struct {
		name   string
		yes, n int
		want   bool
	}{
		{"4 of 6 is exactly two thirds and is not enough", 4, 6, false},
		{"5 of 6 passes", 5, 6, true},
		{"2 of 3 is exactly two thirds and is not enough", 2, 3, false},
		{"3 of 3 passes", 3, 3, true},
		{"3 of 4 passes", 3, 4, true},
		{"2 of 4 does not pass", 2, 4, false},
		{"4 of 5 passes", 4, 5, true},
		{"3 of 5 does not pass", 3, 5, false},
		{"1 of 1 passes", 1, 1, true},
		{"1 of 2 does not pass", 1, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := governance.Passes(tt.yes, tt.n); got != tt.want {
				t.Fatalf("Passes(%d, %d) = %v", tt.yes, tt.n, got)
			}
		})
	}
}

func TestExactlyTwoThirdsLeavesAProposalOpen(t *testing.T) {
	a := newAlliance(t, 6)
	if err := a.propose("h1", grantMsg(addr("researcher"), 5)); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"h2", "h3", "h4"} {
		if err := a.vote(h, 1, true); err != nil {
			t.Fatal(err)
		}
	}
	if p := a.proposal(1); p.Status != pb.Proposal_STATUS_OPEN || len(p.Yes) != 4 {
		t.Fatalf("after 4 yes of 6 the proposal is %s with %d yes; want open", p.Status, len(p.Yes))
	}
	if err := a.vote("h5", 1, true); err != nil {
		t.Fatal(err)
	}
	if p := a.proposal(1); p.Status != pb.Proposal_STATUS_EXECUTED || p.StatusHeight != a.height {
		t.Fatalf("after 5 yes of 6 the proposal is %s at %d; want executed now", p.Status, p.StatusHeight)
	}
	if a.eventAttrs(governance.EventPassed)["yes"] != "5" || a.eventAttrs(governance.EventExecuted)["outcome"] != "ok" {
		t.Fatalf("events: %+v", a.events)
	}
	t.Run("a member that did not vote may no longer vote", func(t *testing.T) {
		if err := a.vote("h6", 1, true); !errors.Is(err, governance.ErrVotingClosed) {
			t.Fatalf("vote on an executed proposal = %v", err)
		}
	})
}

func TestEveryProposalTypeIsCarriedOut(t *testing.T) {
	researcher, auditor := addr("researcher"), addr("auditor")
	tests := []struct {
		name  string
		n     int
		msg   *pb.Propose
		epoch bool // whether a new key epoch is opened
		check func(t *testing.T, a *alliance)
	}{
		{"admitting a hospital makes it a member, a validator and part of a new key epoch", 4, admitMsg("h5"), true, func(t *testing.T, a *alliance) {
			h := a.hospital("h5")
			if h == nil || h.MemberIndex != 5 || h.Power != 7 || h.AdmittedHeight != a.height || h.Operator != addr("op-h5") || !bytes.Equal(h.SealPubkey, sealPub("h5")) {
				t.Fatalf("hospital = %v", h)
			}
			if acc := a.account(addr("op-h5")); acc == nil || acc.Role != pb.Role_ROLE_OPERATOR || acc.Hospital != "h5" {
				t.Fatalf("operator = %v", acc)
			}
			if len(a.updates) != 1 || !bytes.Equal(a.updates[0].PubKey, pub("val-h5")) || a.updates[0].Power != 7 {
				t.Fatalf("validator updates = %+v", a.updates)
			}
			ep := a.epoch(2)
			if !slices.Equal(ep.Members, []uint64{1, 2, 3, 4, 5}) || ep.Threshold != a.params().He.Threshold || ep.Ready {
				t.Fatalf("epoch 2 = %v", ep)
			}
			t.Run("and the new member votes on later proposals", func(t *testing.T) {
				if err := a.propose("h5", grantMsg(researcher, 1)); err != nil {
					t.Fatal(err)
				}
			})
		}},
		{"removing a hospital takes its power, retires its operator and opens an epoch without it", 5, removeMsg("h3"), true, func(t *testing.T, a *alliance) {
			h := a.hospital("h3")
			if h.Power != 0 || h.RemovedHeight != a.height || h.MemberIndex != 3 {
				t.Fatalf("hospital = %v", h)
			}
			op := a.account(addr("op-h3"))
			if op.Role != pb.Role_ROLE_UNSPECIFIED || op.RetiredRole != pb.Role_ROLE_OPERATOR || op.RetiredHeight != a.height {
				t.Fatalf("operator = %v", op)
			}
			if len(a.updates) != 1 || !bytes.Equal(a.updates[0].PubKey, pub("val-h3")) || a.updates[0].Power != 0 {
				t.Fatalf("validator updates = %+v", a.updates)
			}
			if ep := a.epoch(2); !slices.Equal(ep.Members, []uint64{1, 2, 4, 5}) {
				t.Fatalf("epoch 2 = %v", ep)
			}
			if ep := a.epoch(1); !slices.Equal(ep.Members, []uint64{1, 2, 3, 4, 5}) {
				t.Fatalf("epoch 1 changed: %v", ep)
			}
			t.Run("and its operator can no longer propose", func(t *testing.T) {
				if err := a.propose("h3", grantMsg(researcher, 1)); !errors.Is(err, contracts.ErrUnauthorized) {
					t.Fatalf("propose by a removed member = %v", err)
				}
			})
		}},
		{"registering a researcher creates an alliance-wide account", 4, registerMsg("new-researcher", pb.Role_ROLE_RESEARCHER), false, func(t *testing.T, a *alliance) {
			acc := a.account(addr("new-researcher"))
			if acc == nil || acc.Role != pb.Role_ROLE_RESEARCHER || acc.Hospital != "" || acc.CreatedHeight != a.height {
				t.Fatalf("account = %v", acc)
			}
		}},
		{"registering an auditor creates an alliance-wide account", 4, registerMsg("new-auditor", pb.Role_ROLE_AUDITOR), false, func(t *testing.T, a *alliance) {
			if acc := a.account(addr("new-auditor")); acc == nil || acc.Role != pb.Role_ROLE_AUDITOR {
				t.Fatalf("account = %v", acc)
			}
		}},
		{"retiring an auditor keeps the account and its former role", 4, retireMsg(auditor), false, func(t *testing.T, a *alliance) {
			acc := a.account(auditor)
			if acc.Role != pb.Role_ROLE_UNSPECIFIED || acc.RetiredRole != pb.Role_ROLE_AUDITOR || acc.Label != "audit" {
				t.Fatalf("account = %v", acc)
			}
		}},
		{"granting budget adds to what the researcher was granted", 4, grantMsg(researcher, 2_500_000), false, func(t *testing.T, a *alliance) {
			b, err := research.GetBudget(a.st, researcher)
			if err != nil || b.GrantedMicro != 12_500_000 || b.SpentMicro != 0 {
				t.Fatalf("budget = %v, %v", b, err)
			}
		}},
		{"setting parameters changes only the fields set", 4, setMsg(&pb.SetParams{MinCohort: u64p(20), VotingDeadlineBlocks: u64p(30), MaxMemoBytes: u64p(2048)}), false, func(t *testing.T, a *alliance) {
			p := a.params()
			if p.Research.MinCohort != 20 || p.Gov.VotingDeadlineBlocks != 30 || p.MaxMemoBytes != 2048 || p.Research.ContributionDeadlineBlocks != 20 || p.MaxTxBytes != 4<<20 {
				t.Fatalf("params = %v", p)
			}
			if d := a.eventAttrs(governance.EventExecuted)["detail"]; !strings.Contains(d, "min_cohort=20") {
				t.Fatalf("executed detail = %q", d)
			}
		}},
		{"changing t opens a key epoch with the new t", 4, setMsg(&pb.SetParams{Threshold: u32p(4)}), true, func(t *testing.T, a *alliance) {
			if a.params().He.Threshold != 4 {
				t.Fatalf("threshold = %d", a.params().He.Threshold)
			}
			if ep := a.epoch(2); ep.Threshold != 4 || !slices.Equal(ep.Members, []uint64{1, 2, 3, 4}) {
				t.Fatalf("epoch 2 = %v", ep)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAlliance(t, tt.n)
			if err := a.propose("h1", tt.msg); err != nil {
				t.Fatalf("propose: %v", err)
			}
			a.passAll(1)
			p := a.proposal(1)
			if p.Status != pb.Proposal_STATUS_EXECUTED {
				t.Fatalf("proposal = %s (%s)", p.Status, p.Outcome)
			}
			if (p.KeyEpoch == 2) != tt.epoch || (a.epoch(2) != nil) != tt.epoch {
				t.Fatalf("key epoch %d, epoch 2 = %v; want a new epoch: %v", p.KeyEpoch, a.epoch(2), tt.epoch)
			}
			if ev := a.eventAttrs(governance.EventExecuted); ev["id"] != "1" || ev["outcome"] != "ok" || ev["action"] != governance.ActionOf(tt.msg) {
				t.Fatalf("executed event = %v", ev)
			}
			tt.check(t, a)
		})
	}
}

func TestRefusalsChangeNothing(t *testing.T) {
	researcher := addr("researcher")
	tests := []struct {
		name  string
		n     int
		setup func(a *alliance) // runs before the refused tx
		send  func(a *alliance) error
		want  error
	}{
		{"a vote by an operator whose hospital joined after the proposal is denied", 4, func(a *alliance) {
			must(a, a.propose("h1", admitMsg("h5")))
			a.passAll(1)
			must(a, a.propose("h1", grantMsg(researcher, 1))) // proposal 2 has electorate h1…h5
			must(a, a.propose("h2", grantMsg(researcher, 2))) // proposal 3
			must(a, a.propose("h1", admitMsg("h6")))          // h6 is admitted after proposal 3
			a.passAll(4)
		}, func(a *alliance) error { return a.vote("h6", 3, true) }, contracts.ErrDenied},
		{"a vote by a researcher is unauthorized", 4, func(a *alliance) {
			must(a, a.propose("h1", grantMsg(researcher, 1)))
		}, func(a *alliance) error {
			return a.send(researcher, governance.TypeVote, &pb.Vote{Proposal: 1, Yes: true})
		}, contracts.ErrUnauthorized},
		{"a proposal by an auditor is unauthorized", 4, nil, func(a *alliance) error {
			return a.send(addr("auditor"), governance.TypePropose, grantMsg(researcher, 1))
		}, contracts.ErrUnauthorized},
		{"a second vote by the same member is a double vote", 6, func(a *alliance) {
			must(a, a.propose("h1", grantMsg(researcher, 1)))
			must(a, a.vote("h2", 1, false))
		}, func(a *alliance) error { return a.vote("h2", 1, true) }, governance.ErrAlreadyVoted},
		{"the proposer voting on its own proposal is a double vote", 6, func(a *alliance) {
			must(a, a.propose("h1", grantMsg(researcher, 1)))
		}, func(a *alliance) error { return a.vote("h1", 1, true) }, governance.ErrAlreadyVoted},
		{"a vote on a proposal that does not exist is not found", 4, nil, func(a *alliance) error { return a.vote("h1", 9, true) }, contracts.ErrNotFound},
		{"a vote on proposal 0 is invalid", 4, nil, func(a *alliance) error { return a.vote("h1", 0, true) }, contracts.ErrInvalidPayload},
		{"removing a member of a 4-member alliance is below the floor", 4, nil, func(a *alliance) error { return a.propose("h1", removeMsg("h2")) }, governance.ErrAllianceFloor},
		{"removing a member below t is below the floor", 5, func(a *alliance) {
			must(a, a.propose("h1", setMsg(&pb.SetParams{Threshold: u32p(5)})))
			a.passAll(1)
		}, func(a *alliance) error { return a.propose("h1", removeMsg("h2")) }, governance.ErrAllianceFloor},
		{"removing a hospital that does not exist is not found", 5, nil, func(a *alliance) error { return a.propose("h1", removeMsg("h9")) }, contracts.ErrNotFound},
		{"admitting a hospital with a 31-byte validator key is invalid", 4, nil, func(a *alliance) error {
			m := admitMsg("h5")
			m.GetAdmitHospital().ValidatorPubkey = pub("v")[:31]
			return a.propose("h1", m)
		}, contracts.ErrInvalidPayload},
		{"admitting a hospital with an all-zero operator key is invalid", 4, nil, func(a *alliance) error {
			m := admitMsg("h5")
			m.GetAdmitHospital().OperatorPubkey = make([]byte, 32)
			return a.propose("h1", m)
		}, contracts.ErrInvalidPayload},
		{"admitting a hospital without a seal key in an HE alliance is invalid", 4, nil, func(a *alliance) error {
			m := admitMsg("h5")
			m.GetAdmitHospital().SealPubkey = nil
			return a.propose("h1", m)
		}, contracts.ErrInvalidPayload},
		{"admitting a hospital with a bad id is invalid", 4, nil, func(a *alliance) error {
			m := admitMsg("h5")
			m.GetAdmitHospital().Id = "H 5"
			return a.propose("h1", m)
		}, contracts.ErrInvalidPayload},
		{"admitting a hospital with zero power is invalid", 4, nil, func(a *alliance) error {
			m := admitMsg("h5")
			m.GetAdmitHospital().Power = 0
			return a.propose("h1", m)
		}, contracts.ErrInvalidPayload},
		{"admitting an existing hospital id already exists", 4, nil, func(a *alliance) error { return a.propose("h1", admitMsg("h2")) }, contracts.ErrExists},
		{"admitting a hospital with a member's validator key already exists", 4, nil, func(a *alliance) error {
			m := admitMsg("h5")
			m.GetAdmitHospital().ValidatorPubkey = pub("val-h1")
			return a.propose("h1", m)
		}, contracts.ErrExists},
		{"registering an existing account already exists", 4, nil, func(a *alliance) error {
			return a.propose("h1", registerMsg("researcher", pb.Role_ROLE_RESEARCHER))
		}, contracts.ErrExists},
		{"registering a doctor by vote is invalid", 4, nil, func(a *alliance) error {
			return a.propose("h1", registerMsg("dr", pb.Role_ROLE_DOCTOR))
		}, contracts.ErrInvalidPayload},
		{"retiring an operator by vote is invalid", 4, nil, func(a *alliance) error { return a.propose("h1", retireMsg(addr("op-h2"))) }, contracts.ErrInvalidPayload},
		{"granting budget to an auditor is refused", 4, nil, func(a *alliance) error { return a.propose("h1", grantMsg(addr("auditor"), 1)) }, contracts.ErrWrongState},
		{"granting zero budget is invalid", 4, nil, func(a *alliance) error { return a.propose("h1", grantMsg(researcher, 0)) }, contracts.ErrInvalidPayload},
		{"a t above the member count is below the floor", 4, nil, func(a *alliance) error {
			return a.propose("h1", setMsg(&pb.SetParams{Threshold: u32p(5)}))
		}, governance.ErrAllianceFloor},
		{"a max_memo_bytes above max_tx_bytes is invalid", 4, nil, func(a *alliance) error {
			return a.propose("h1", setMsg(&pb.SetParams{MaxMemoBytes: u64p(5 << 20)}))
		}, contracts.ErrInvalidPayload},
		{"a zero voting deadline is invalid", 4, nil, func(a *alliance) error {
			return a.propose("h1", setMsg(&pb.SetParams{VotingDeadlineBlocks: u64p(0)}))
		}, contracts.ErrInvalidPayload},
		{"set-params that sets nothing is invalid", 4, nil, func(a *alliance) error { return a.propose("h1", setMsg(&pb.SetParams{})) }, contracts.ErrInvalidPayload},
		{"a proposal without an action is invalid", 4, nil, func(a *alliance) error { return a.propose("h1", &pb.Propose{Reason: "?"}) }, contracts.ErrInvalidPayload},
		{"a reason longer than max_memo_bytes is invalid", 4, nil, func(a *alliance) error {
			m := grantMsg(researcher, 1)
			m.Reason = strings.Repeat("r", 1025)
			return a.propose("h1", m)
		}, contracts.ErrInvalidPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAlliance(t, tt.n)
			if tt.setup != nil {
				tt.setup(a)
			}
			before := a.dump()
			err := tt.send(a)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if a.dump() != before {
				t.Fatal("a refused tx changed state")
			}
		})
	}
}

func must(a *alliance, err error) {
	a.t.Helper()
	if err != nil {
		a.t.Fatal(err)
	}
}

func TestEnoughNoVotesRejectAProposal(t *testing.T) {
	a := newAlliance(t, 4)
	must(a, a.propose("h1", grantMsg(addr("researcher"), 1)))
	must(a, a.vote("h2", 1, false))
	if p := a.proposal(1); p.Status != pb.Proposal_STATUS_OPEN {
		t.Fatalf("after one no of four: %s; 3 of 4 can still pass", p.Status)
	}
	must(a, a.vote("h3", 1, false))
	p := a.proposal(1)
	if p.Status != pb.Proposal_STATUS_REJECTED || !slices.Equal(p.No, []string{"h2", "h3"}) {
		t.Fatalf("after two no of four: %v", p)
	}
	if ev := a.eventAttrs(governance.EventRejected); ev["no"] != "2" || ev["id"] != "1" {
		t.Fatalf("rejected event = %v", ev)
	}
	if b, _ := research.GetBudget(a.st, addr("researcher")); b.GrantedMicro != 10_000_000 {
		t.Fatalf("a rejected grant changed the budget: %v", b)
	}
	if err := a.vote("h4", 1, true); !errors.Is(err, governance.ErrVotingClosed) {
		t.Fatalf("vote on a rejected proposal = %v", err)
	}
}

func TestDeadlines(t *testing.T) {
	t.Run("a vote in the deadline block counts and the proposal expires at its end", func(t *testing.T) {
		a := newAlliance(t, 6)
		must(a, a.propose("h1", grantMsg(addr("researcher"), 1)))
		deadline := a.proposal(1).DeadlineHeight
		if deadline != a.height+votingDeadline {
			t.Fatalf("deadline %d, want %d", deadline, a.height+votingDeadline)
		}
		for a.height < deadline {
			a.endBlock()
		}
		if p := a.proposal(1); p.Status != pb.Proposal_STATUS_OPEN {
			t.Fatalf("before its deadline's end the proposal is %s", p.Status)
		}
		must(a, a.vote("h2", 1, true))
		a.endBlock()
		p := a.proposal(1)
		if p.Status != pb.Proposal_STATUS_EXPIRED || p.StatusHeight != deadline || len(p.Yes) != 2 {
			t.Fatalf("after the deadline: %v", p)
		}
		if ev := a.eventAttrs(governance.EventExpired); ev["id"] != "1" || ev["yes"] != "2" {
			t.Fatalf("expired event = %v", ev)
		}
		if err := a.vote("h3", 1, true); !errors.Is(err, governance.ErrVotingClosed) {
			t.Fatalf("vote after the deadline = %v", err)
		}
	})
	t.Run("a decided proposal does not expire", func(t *testing.T) {
		a := newAlliance(t, 4)
		must(a, a.propose("h1", grantMsg(addr("researcher"), 1)))
		a.passAll(1)
		for range votingDeadline + 2 {
			a.endBlock()
		}
		if p := a.proposal(1); p.Status != pb.Proposal_STATUS_EXECUTED {
			t.Fatalf("status = %s", p.Status)
		}
		if a.eventAttrs(governance.EventExpired) != nil {
			t.Fatal("an executed proposal expired")
		}
	})
}

func TestAPassedProposalThatCanNoLongerRunFailsAndAppliesNothing(t *testing.T) {
	a := newAlliance(t, 4)
	must(a, a.propose("h1", registerMsg("lab2", pb.Role_ROLE_RESEARCHER)))
	must(a, a.propose("h2", registerMsg("lab2", pb.Role_ROLE_AUDITOR)))
	a.passAll(1)
	a.updates, a.events = nil, nil
	a.passAll(2)
	p := a.proposal(2)
	if p.Status != pb.Proposal_STATUS_FAILED || !strings.Contains(p.Outcome, "already exists") {
		t.Fatalf("proposal 2 = %v", p)
	}
	if acc := a.account(addr("lab2")); acc.Role != pb.Role_ROLE_RESEARCHER {
		t.Fatalf("the failed proposal changed the account: %v", acc)
	}
	if ev := a.eventAttrs(governance.EventExecuted); ev["outcome"] != "failed" {
		t.Fatalf("executed event = %v", ev)
	}
}

func TestProposalsAreListedNewestFirst(t *testing.T) {
	a := newAlliance(t, 4)
	for i := range 3 {
		must(a, a.propose("h1", grantMsg(addr("researcher"), uint64(i+1))))
	}
	ps, err := governance.Proposals(a.st, 2)
	if err != nil || len(ps) != 2 || ps[0].Id != 3 || ps[1].Id != 2 {
		t.Fatalf("Proposals = %v, %v", ps, err)
	}
}
