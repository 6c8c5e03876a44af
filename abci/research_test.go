package abci

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/governance"
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
	n.tx(a.researcher, research.TypeSubmit, &pb.SubmitQuery{Query: q1, Plaintext: true}, "denied") // no plaintext baseline here
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

// plainContribution is contribution's figures in plain, for a
// plaintext-baseline query.
func (n *researchNet) plainContribution(id uint64, figures []int64, count int64) *pb.Contribute {
	n.t.Helper()
	plan, err := query.Layout(n.query(id).Query, n.lim)
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
	return &pb.Contribute{Query: id, PlainResult: v, PlainCount: count}
}

// figuresOf joins the packed vector vals of query id into its figures.
func (n *researchNet) figuresOf(id uint64, vals []int64) []int64 {
	n.t.Helper()
	plan, err := query.Layout(n.query(id).Query, n.lim)
	if err != nil {
		n.t.Fatal(err)
	}
	var out []int64
	for _, b := range plan.Blocks {
		for _, f := range b.Figures {
			v, err := f.Join(vals)
			if err != nil {
				n.t.Fatal(err)
			}
			out = append(out, v)
		}
	}
	return out
}

// hasEvent reports whether block r (its txs or its end) emitted an event
// typ with key = value.
func hasEvent(r *abcitypes.ResponseFinalizeBlock, typ, key, value string) bool {
	events := slices.Clone(r.Events)
	for _, res := range r.TxResults {
		events = append(events, res.Events...)
	}
	for _, e := range events {
		if e.Type != typ {
			continue
		}
		for _, a := range e.Attributes {
			if a.Key == key && a.Value == value {
				return true
			}
		}
	}
	return false
}

// TestPlaintextBaselineQueries drives the benchmark's plaintext baseline
// through two nodes fed the same blocks, in an alliance with
// plaintext_baseline and dp_off: a plaintext query and the same query
// encrypted are submitted side by side; the members post plain figures to
// the first (contributions of the wrong kind, shape or range are refused)
// and the contract releases their exact sums in the query record in the
// block of the last contribution, with no decryption request; the
// encrypted twin, switched and decrypted, gives the same figures. A small
// cohort is refused on its summed count; a plaintext query with one
// member's answer is released at its deadline. Both nodes agree at every
// height.
func TestPlaintextBaselineQueries(t *testing.T) {
	r := genesis.DefaultResearch()
	r.ContributionDeadlineBlocks, r.DPOff, r.PlaintextBaseline = 3, true, true
	n := newResearchNet(t, r)
	a := n.a
	op := func(i uint64) user { return a.members[i-1].op }
	q1, err := query.Parse("SELECT count(), mean(age), variance(bmi) WHERE condition = 'E11'")
	if err != nil {
		t.Fatal(err)
	}
	small, err := query.Parse("SELECT count() WHERE condition = 'E84'")
	if err != nil {
		t.Fatal(err)
	}
	plain := func(q *pb.Query) *pb.SubmitQuery { return &pb.SubmitQuery{Query: q, Plaintext: true} }

	// Submissions: plaintext (1), encrypted twin (2), small plaintext (3).
	n.tx(a.researcher, research.TypeSubmit, plain(q1), "ok")
	n.tx(a.researcher, research.TypeSubmit, &pb.SubmitQuery{Query: q1, ResearcherKey: a.researcherPub}, "ok")
	n.tx(a.researcher, research.TypeSubmit, plain(small), "ok")
	n.refused(a.researcher, research.TypeSubmit, &pb.SubmitQuery{Query: q1, Plaintext: true, ResearcherKey: a.researcherPub}, "invalid_payload")
	n.tx(a.researcher, research.TypeSubmit, &pb.SubmitQuery{Query: q1, Plaintext: true, RhoMicro: 1}, "invalid_payload")
	res := n.run(n.all)
	if !hasEvent(res, research.EventSubmitted, "plaintext", "true") {
		t.Fatal("no research.submitted event says plaintext")
	}
	if q := n.query(1); !q.Plaintext || !q.DpOff || len(q.ResearcherKeyHash) != 0 || q.Slots != 1+2+4 || q.Status != pb.ResearchQuery_STATUS_COLLECTING {
		t.Fatalf("plaintext query after submission: %+v", q)
	}
	if q := n.query(2); q.Plaintext || len(q.ResearcherKeyHash) != 32 {
		t.Fatalf("encrypted twin after submission: %+v", q)
	}

	figures := [][]int64{
		{5, 5, 300, 4, 12000, 36_000_000}, {6, 6, 360, 6, 18000, 54_100_000},
		{4, 4, 200, 4, 11000, 30_300_000}, {3, 3, 150, 0, 0, 0},
	}
	counts := []int64{5, 6, 4, 3}
	good := func(i uint64) *pb.Contribute { return n.plainContribution(1, figures[i-1], counts[i-1]) }
	short := good(2)
	short.PlainResult = short.PlainResult[1:]
	tooLarge := good(2)
	tooLarge.PlainResult[0] = n.lim.SlotBound + 1
	negative := good(2)
	negative.PlainCount = -1
	both := good(2)
	both.Result = n.contribution(1, figures[1], counts[1]).Result
	for _, c := range []struct {
		name string
		from user
		c    *pb.Contribute
		want string
		form bool // refused on its form: the nonce is not used
	}{
		{"a member's plain figures are taken", op(1), good(1), "ok", false},
		{"ciphertexts to a plaintext query are refused", op(2), n.contribution(1, figures[1], counts[1]), "invalid_payload", false},
		{"plain figures to an encrypted query are refused", op(2), n.plainContribution(2, figures[1], counts[1]), "invalid_payload", false},
		{"a vector shorter than the query's slots is refused", op(2), short, "invalid_payload", false},
		{"a value outside a slot's range is refused", op(2), tooLarge, "invalid_payload", true},
		{"a negative cohort count is refused", op(2), negative, "invalid_payload", true},
		{"a contribution both plain and encrypted is refused", op(2), both, "invalid_payload", true},
		{"an empty contribution is refused", op(2), &pb.Contribute{Query: 1}, "invalid_payload", true},
		{"a second contribution of one member is refused", op(1), good(1), "already_exists", false},
		{"a researcher's contribution is refused", a.researcher, good(2), "unauthorized", false},
		{"member 2's plain figures are taken", op(2), good(2), "ok", false},
		{"member 3's plain figures are taken", op(3), good(3), "ok", false},
		{"member 4's plain figures are taken and release the sums", op(4), good(4), "ok", false},
	} {
		if c.form {
			n.refused(c.from, research.TypeContribute, c.c, c.want)
		} else {
			n.tx(c.from, research.TypeContribute, c.c, c.want)
		}
	}
	for i := uint64(1); i <= 4; i++ {
		n.tx(op(i), research.TypeContribute, n.plainContribution(3, []int64{int64(i)}, int64(i)-1), "ok")
		n.tx(op(i), research.TypeContribute, n.contribution(2, figures[i-1], counts[i-1]), "ok")
	}
	res = n.run(n.all)
	released := n.height
	q := n.query(1)
	if q.Status != pb.ResearchQuery_STATUS_RELEASED || q.StatusHeight != released || q.NoisedCount != 18 || q.GateRequest != 0 || q.ReleaseRequest != 0 ||
		len(q.ResultHash) != 0 || !slices.Equal(q.Contributors, []uint64{1, 2, 3, 4}) {
		t.Fatalf("plaintext query after four contributions: %s at %d, count %d, requests %d/%d, contributors %v, %q",
			q.Status, q.StatusHeight, q.NoisedCount, q.GateRequest, q.ReleaseRequest, q.Contributors, q.Reason)
	}
	if !hasEvent(res, research.EventReleased, "plaintext", "true") {
		t.Fatal("no research.released event says plaintext")
	}
	want := make([]int64, len(figures[0]))
	for _, f := range figures {
		for k := range f {
			want[k] += f[k]
		}
	}
	plainFigures := n.figuresOf(1, q.PlainResult)
	if len(q.PlainResult) != int(q.Slots) || !slices.Equal(plainFigures, want) {
		t.Fatalf("released plain figures %v (%d values), want %v", plainFigures, len(q.PlainResult), want)
	}
	if q3 := n.query(3); q3.Status != pb.ResearchQuery_STATUS_REFUSED || q3.NoisedCount != 6 || len(q3.PlainResult) != 0 || !strings.Contains(q3.Reason, "cohort too small") {
		t.Fatalf("small plaintext query: %s, count %d, result %v, %q", q3.Status, q3.NoisedCount, q3.PlainResult, q3.Reason)
	}
	var c pb.Contribution
	if err := tx.Unmarshal(n.twinApps.query("/research/contribution/1/2", true).Value, &c); err != nil || c.PlainCount != 6 || len(c.ResultHash) != 0 {
		t.Fatalf("member 2's contribution record: %+v %v", &c, err)
	}

	// The encrypted twin: gate, switch, decrypt; the same figures.
	n.tx(op(1), research.TypeContribute, good(1), "wrong_state") // query 1 is released
	n.run(n.all)
	n.shares(n.query(2).GateRequest)
	n.run(n.all)
	n.shares(n.query(2).ReleaseRequest)
	n.run(n.all)
	q2 := n.query(2)
	if q2.Status != pb.ResearchQuery_STATUS_RELEASED || q2.NoisedCount != q.NoisedCount {
		t.Fatalf("encrypted twin: %s, count %d, %q", q2.Status, q2.NoisedCount, q2.Reason)
	}
	vals, err := a.p.Decrypt(a.researcherPriv, n.blob(q2.ResultHash))
	if err != nil {
		t.Fatal(err)
	}
	if got := n.figuresOf(2, vals); !slices.Equal(got, plainFigures) {
		t.Fatalf("encrypted twin decrypts to %v, the plaintext baseline released %v", got, plainFigures)
	}

	// One member answers a plaintext query: at the deadline it is released
	// with that member's figures (DP off: no minimum of noise shares).
	n.tx(a.researcher, research.TypeSubmit, plain(small), "ok")
	n.run(n.all)
	n.tx(op(2), research.TypeContribute, n.plainContribution(4, []int64{12}, 12), "ok")
	n.run(n.all)
	for range 4 {
		n.run(n.all)
	}
	if q4 := n.query(4); q4.Status != pb.ResearchQuery_STATUS_RELEASED || !slices.Equal(q4.Contributors, []uint64{2}) || !slices.Equal(q4.PlainResult, []int64{12}) {
		t.Fatalf("plaintext query with one contribution at its deadline: %s %v %v %q", q4.Status, q4.Contributors, q4.PlainResult, q4.Reason)
	}
}

// TestARunningQueryKeepsItsBoundOnPersons: the members lower
// research.max_patients by vote while a query collects; the query keeps
// the bound it was submitted under, so a contribution whose count is over
// the new bound but within the old is taken and the query is released.
func TestARunningQueryKeepsItsBoundOnPersons(t *testing.T) {
	r := genesis.DefaultResearch()
	r.ContributionDeadlineBlocks, r.DPOff, r.PlaintextBaseline, r.MinCohort = 5, true, true, 1
	n := newResearchNet(t, r)
	a := n.a
	op := func(i uint64) user { return a.members[i-1].op }
	q, err := query.Parse("SELECT count()")
	if err != nil {
		t.Fatal(err)
	}
	n.tx(a.researcher, research.TypeSubmit, &pb.SubmitQuery{Query: q, Plaintext: true}, "ok")
	n.run(n.all)
	if got := n.query(1).MaxPatients; got != r.MaxPatients {
		t.Fatalf("query records max_patients %d, want the alliance's %d", got, r.MaxPatients)
	}
	lower := uint64(100)
	n.tx(op(1), governance.TypePropose, &pb.Propose{Action: &pb.Propose_SetParams{SetParams: &pb.SetParams{MaxPatients: &lower}}}, "ok")
	n.run(n.all)
	for i := uint64(2); i <= 3; i++ {
		n.tx(op(i), governance.TypeVote, &pb.Vote{Proposal: 1, Yes: true}, "ok")
	}
	n.run(n.all)
	var ap pb.Params
	if err := tx.Unmarshal(n.twinApps.query("/params", false).Value, &ap); err != nil || ap.Research.MaxPatients != lower {
		t.Fatalf("the vote did not lower max_patients: %v, %v", ap.Research, err)
	}
	for i := uint64(1); i <= 4; i++ {
		n.tx(op(i), research.TypeContribute, n.plainContribution(1, []int64{150}, 150), "ok") // 150 persons each > 100
	}
	n.run(n.all)
	got := n.query(1)
	if got.Status != pb.ResearchQuery_STATUS_RELEASED || len(got.PlainResult) != 1 || got.PlainResult[0] != 600 {
		t.Fatalf("query after the change: status %s, result %v, reason %q", got.Status, got.PlainResult, got.Reason)
	}
}
