package abci

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/hekeys"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
	"github.com/medchain/medchain/contracts/research"
	"github.com/medchain/medchain/genesis"
)

// researchNet is a twin-app HE alliance that has run its key ceremony.
type researchNet struct {
	*twinApps
	a   *heAlliance
	all abcitypes.CommitInfo
	lim query.Limits
}

func newResearchNet(t *testing.T, r *genesis.Research) *researchNet {
	t.Helper()
	a := newHEAllianceWith(t, r)
	n := &researchNet{twinApps: &twinApps{t: t, apps: [2]*App{a.newApp(t), a.newApp(t)}, nonces: map[string]uint64{}}, a: a, all: a.votes(1, 2, 3, 4)}
	for _, m := range a.members {
		n.tx(m.op, hekeys.TypeKeyCommit, &pb.CommitKeyShare{Epoch: 1, Commitment: hekeys.Commitment(testChainID, 1, m.index, m.post.PublicKeyShare)}, "ok")
	}
	n.run(n.all)
	for _, m := range a.members {
		n.tx(m.op, hekeys.TypeKeyShare, m.post, "ok")
	}
	n.run(n.all)
	n.lim = query.Limits{MaxSlots: a.p.Slots(), SlotBound: a.p.MaxAbs() >> 4, MaxPatients: int64(r.MaxPatients)}
	return n
}

// refused adds a tx whose payload the app refuses before the contract
// runs (its form): it does not use up the signer's nonce.
func (n *researchNet) refused(u user, typ string, payload proto.Message, want string) {
	n.tx(u, typ, payload, want)
	n.nonces[u.addr]--
}

func (n *researchNet) query(id uint64) *pb.ResearchQuery {
	n.t.Helper()
	var q pb.ResearchQuery
	if err := tx.Unmarshal(n.twinApps.query(fmt.Sprintf("/research/query/%d", id), true).Value, &q); err != nil {
		n.t.Fatal(err)
	}
	return &q
}

// contribution is member m's encrypted figures: the packed vector of
// figures (values in layout order) and its cohort count.
func (n *researchNet) contribution(id uint64, figures []int64, count int64) *pb.Contribute {
	n.t.Helper()
	q := n.query(id)
	plan, err := query.Layout(q.Query, n.lim)
	if err != nil {
		n.t.Fatal(err)
	}
	v := make([]int64, plan.Slots)
	k := 0
	for _, b := range plan.Blocks {
		for _, f := range b.Figures {
			f.Split(v, figures[k])
			k++
		}
	}
	enc := func(v []int64) []byte {
		ct, err := n.a.p.EncodeEncrypt(n.a.collectiveKey, v)
		if err != nil {
			n.t.Fatal(err)
		}
		return ct
	}
	return &pb.Contribute{Query: id, Result: enc(v), Count: enc([]int64{count})}
}

// shares has the active set of request id post its shares (decryption
// shares for a public request, key-switching ones otherwise).
func (n *researchNet) shares(id uint64) {
	n.t.Helper()
	r := n.request(id)
	agg := n.blob(r.AggregateHash)
	for _, m := range r.ActiveSet {
		ts := n.a.members[m-1].ts
		var sh []byte
		var err error
		if r.Public {
			sh, err = n.a.p.GenDecryptShare(ts, r.ActiveSet, agg)
		} else {
			sh, err = n.a.p.GenKeySwitchShare(ts, r.ActiveSet, agg, n.blob(r.TargetKeyHash))
		}
		if err != nil {
			n.t.Fatal(err)
		}
		n.tx(n.a.members[m-1].op, hekeys.TypeKSShare, &pb.PostKeySwitchShare{Request: id, Share: sh}, "ok")
	}
}

// TestResearchQueryLifecycle drives research queries through two nodes
// fed the same blocks: submission (role, shape, budget), contributions,
// aggregation, the public cohort gate, the switch to the researcher, who
// decrypts the exact sums; a cohort below the minimum is refused without
// a release; a query with a member missing goes on at its deadline with
// the others; a query nobody answers fails. Both nodes agree at every
// height (twinApps).
func TestResearchQueryLifecycle(t *testing.T) {
	r := genesis.DefaultResearch()
	r.ContributionDeadlineBlocks = 3
	n := newResearchNet(t, r)
	a := n.a
	op := func(i uint64) user { return a.members[i-1].op }
	parse := func(s string) *pb.Query {
		q, err := query.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	q1 := parse("SELECT count(), mean(age), variance(bmi) WHERE condition = 'E11'")
	submit := func(q *pb.Query, rho uint64) *pb.SubmitQuery {
		return &pb.SubmitQuery{Query: q, ResearcherKey: a.researcherPub, RhoMicro: rho}
	}

	// Block 3: submissions, good and bad.
	n.tx(a.researcher, research.TypeSubmit, submit(q1, 1_000_000), "ok")
	n.tx(a.researcher, research.TypeSubmit, submit(q1, 0), "invalid_payload")
	n.tx(a.researcher, research.TypeSubmit, submit(q1, 20_000_000), "denied")
	n.tx(a.members[0].op, research.TypeSubmit, submit(q1, 1), "unauthorized")
	bad := parse("SELECT count()")
	bad.Statistics = append(bad.Statistics, bad.Statistics[0])
	n.refused(a.researcher, research.TypeSubmit, submit(bad, 1), "invalid_payload")
	n.run(n.all)
	q := n.query(1)
	if q.Status != pb.ResearchQuery_STATUS_COLLECTING || q.Query.RefDate == 0 || q.Slots != 1+2+4 || q.Researcher != a.researcher.addr {
		t.Fatalf("query 1 after submission: %+v", q)
	}
	var budget pb.Budget
	if err := tx.Unmarshal(n.twinApps.query("/research/budget/"+a.researcher.addr, true).Value, &budget); err != nil || budget.SpentMicro != 1_000_000 || budget.GrantedMicro != r.BudgetMicro {
		t.Fatalf("budget after one query: %+v %v", &budget, err)
	}

	// Block 4: every member contributes; a second contribution, one from a
	// non-member and one to an unknown query are refused. The fourth
	// contribution aggregates and opens the public gate request.
	figures := [][]int64{
		{5, 5, 300, 4, 12000, 36_000_000}, {6, 6, 360, 6, 18000, 54_100_000},
		{4, 4, 200, 4, 11000, 30_300_000}, {3, 3, 150, 0, 0, 0},
	}
	counts := []int64{5, 6, 4, 3}
	for i := uint64(1); i <= 3; i++ {
		n.tx(op(i), research.TypeContribute, n.contribution(1, figures[i-1], counts[i-1]), "ok")
	}
	n.tx(op(2), research.TypeContribute, n.contribution(1, figures[1], counts[1]), "already_exists")
	n.tx(a.researcher, research.TypeContribute, n.contribution(1, figures[1], counts[1]), "unauthorized")
	unknown := n.contribution(1, figures[1], counts[1])
	unknown.Query = 9
	n.tx(op(1), research.TypeContribute, unknown, "not_found")
	n.tx(op(4), research.TypeContribute, n.contribution(1, figures[3], counts[3]), "ok")
	n.run(n.all)
	q = n.query(1)
	if q.Status != pb.ResearchQuery_STATUS_GATING || !slices.Equal(q.Contributors, []uint64{1, 2, 3, 4}) || q.GateRequest == 0 {
		t.Fatalf("query 1 after four contributions: %s, contributors %v, gate %d", q.Status, q.Contributors, q.GateRequest)
	}

	// Block 5: the gate's active set decrypts the count (18 ≥ 11); the
	// release request opens.
	n.shares(q.GateRequest)
	n.run(n.all)
	q = n.query(1)
	if q.Status != pb.ResearchQuery_STATUS_RELEASING || q.NoisedCount != 18 || q.ReleaseRequest == 0 {
		t.Fatalf("query 1 after the gate: %s, count %d, release %d", q.Status, q.NoisedCount, q.ReleaseRequest)
	}

	// Block 6: the switch; the researcher decrypts the exact sums.
	n.shares(q.ReleaseRequest)
	n.run(n.all)
	q = n.query(1)
	if q.Status != pb.ResearchQuery_STATUS_RELEASED || len(q.ResultHash) != 32 {
		t.Fatalf("query 1 after the switch: %s %q", q.Status, q.Reason)
	}
	vals, err := a.p.Decrypt(a.researcherPriv, n.blob(q.ResultHash))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := query.Layout(q.Query, n.lim)
	if err != nil {
		t.Fatal(err)
	}
	k := 0
	for _, b := range plan.Blocks {
		for _, f := range b.Figures {
			var want int64
			for _, fig := range figures {
				want += fig[k]
			}
			got, err := f.Join(vals)
			if err != nil || got != want {
				t.Fatalf("%s.%s = %d, want %d (%v)", query.FormatStatistic(b.Statistic), f.Name, got, want, err)
			}
			k++
		}
	}

	// Block 7: a small cohort is refused at the gate and never switched.
	n.tx(a.researcher, research.TypeSubmit, submit(parse("SELECT count() WHERE condition = 'E84'"), 1_000_000), "ok")
	n.run(n.all)
	for i := uint64(1); i <= 4; i++ {
		n.tx(op(i), research.TypeContribute, n.contribution(2, []int64{int64(i)}, int64(i)-1), "ok")
	}
	n.run(n.all)
	n.shares(n.query(2).GateRequest)
	n.run(n.all)
	if q := n.query(2); q.Status != pb.ResearchQuery_STATUS_REFUSED || q.NoisedCount != 6 || q.ReleaseRequest != 0 || !strings.Contains(q.Reason, "cohort too small") {
		t.Fatalf("query 2: %s, count %d, release %d, %q", q.Status, q.NoisedCount, q.ReleaseRequest, q.Reason)
	}

	// Queries 3 and 4: three members answer query 3, nobody query 4; at
	// the deadline query 3 goes on with its contributors, query 4 fails.
	n.tx(a.researcher, research.TypeSubmit, submit(parse("SELECT count()"), 1_000_000), "ok")
	n.tx(a.researcher, research.TypeSubmit, submit(parse("SELECT sum(sbp)"), 1_000_000), "ok")
	n.run(n.all)
	for i := uint64(1); i <= 3; i++ {
		n.tx(op(i), research.TypeContribute, n.contribution(3, []int64{10}, 10), "ok")
	}
	n.run(n.all)
	for range 3 {
		n.run(n.all)
	}
	n.tx(op(4), research.TypeContribute, n.contribution(3, []int64{10}, 10), "wrong_state")
	n.run(n.all)
	q3, q4 := n.query(3), n.query(4)
	if q3.Status != pb.ResearchQuery_STATUS_GATING || !slices.Equal(q3.Contributors, []uint64{1, 2, 3}) {
		t.Fatalf("query 3 after its deadline: %s with %v", q3.Status, q3.Contributors)
	}
	if q4.Status != pb.ResearchQuery_STATUS_FAILED || !strings.Contains(q4.Reason, "no member contributed") {
		t.Fatalf("query 4 after its deadline: %s %q", q4.Status, q4.Reason)
	}
	// Query 5: one contribution only, fewer than the N − t + 1 = 2 noise
	// shares the DP calibration counts on: it fails at its deadline.
	n.tx(a.researcher, research.TypeSubmit, submit(parse("SELECT sum(age)"), 1_000_000), "ok")
	n.run(n.all)
	n.tx(op(1), research.TypeContribute, n.contribution(5, []int64{10, 400}, 10), "ok")
	n.run(n.all)
	for range 4 {
		n.run(n.all)
	}
	if q5 := n.query(5); q5.Status != pb.ResearchQuery_STATUS_FAILED || !strings.Contains(q5.Reason, "privacy guarantee") {
		t.Fatalf("query 5 with one contribution: %s %q", q5.Status, q5.Reason)
	}
	var active pb.ResearchQueryList
	if err := tx.Unmarshal(n.twinApps.query("/research/active", false).Value, &active); err != nil || len(active.Queries) != 1 || active.Queries[0].Id != 3 {
		t.Fatalf("active queries: %v %v", &active, err)
	}
	if err := tx.Unmarshal(n.twinApps.query("/research/budget/"+a.researcher.addr, true).Value, &budget); err != nil || budget.SpentMicro != 5_000_000 {
		t.Fatalf("budget after five queries: %+v %v", &budget, err)
	}
}
