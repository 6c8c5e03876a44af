package localnet

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/governance"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/genesis"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/synth"
)

// TestTheAllianceAdmitsAndRemovesAMember is issue 6's acceptance story on
// real processes: four members with their patients; a fifth hospital's
// fresh node joins by state sync; the members vote it in (3 of 4), and it
// becomes a validator, takes part in key epoch 2, imports its patients,
// and a query after that counts them (equal to truth.json for all five
// hospitals, DP off). Then the members vote one member out (4 of 5): its
// power goes to 0, key epoch 3 runs without it, and the chain and queries
// carry on.
func TestTheAllianceAdmitsAndRemovesAMember(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	r := genesis.DefaultResearch()
	r.DPOff, r.MinCohort, r.ContributionDeadlineBlocks = true, 1, 30
	m, err := Generate(Options{Dir: filepath.Join(t.TempDir(), "net"), Validators: 4, ChainID: "medchain-governance", Researcher: true, Research: r})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCluster(medchainBinary(t), m)
	stopAtCleanup(t, c, nil)
	snapshots := []string{"MEDCHAIN_STATE_SNAPSHOT_INTERVAL=20", "MEDCHAIN_STATE_SNAPSHOT_KEEP_RECENT=6"}
	for i := range 4 {
		if err := c.StartEnv(i, snapshots...); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WaitKeyCeremony(ctx); err != nil {
		t.Fatal(err)
	}

	// A cohort for five hospitals; the four members import theirs now.
	cohort := filepath.Join(m.Dir, "cohort")
	d, err := synth.Generate(synth.Options{Hospitals: 5, Patients: 30, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Write(cohort); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := ImportHospital(ctx, c.Bin, m.Nodes[i], filepath.Join(cohort, fmt.Sprintf("hospital%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	truth := d.Truth()
	q := fmt.Sprintf(researchQ2, truth.RefDate)
	want := []int64{int64(truth.Alliance.Stats.HbA1cE11.Count), truth.Alliance.Stats.HbA1cE11.Sum, truth.Alliance.Stats.HbA1cE11.SumSquares}

	cl0, err := c.Client(0)
	if err != nil {
		t.Fatal(err)
	}
	ops := make([]ed25519.PrivateKey, 4, 5)
	for i := range ops {
		ops[i] = operatorKey(t, c, i)
	}

	// The fifth hospital's node joins by state sync, trusting a header a
	// member gave its operator.
	snap := waitSnapshot(t, ctx, c, cl0)
	cm, err := cl0.RPC().Commit(ctx, &snap)
	if err != nil {
		t.Fatal(err)
	}
	joiner, member, err := AddCandidate(c.Manifest, "hospital4", "h4")
	if err != nil {
		t.Fatal(err)
	}
	if err := EnableStateSync(joiner.Home, StateSync{RPCServers: []string{m.Nodes[0].RPC, m.Nodes[1].RPC}, TrustHeight: snap, TrustHash: cm.Commit.BlockID.Hash.String()}); err != nil {
		t.Fatal(err)
	}
	if err := c.StartEnv(joiner.Index, snapshots...); err != nil {
		t.Fatal(err)
	}
	st, err := cl0.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitHeight(ctx, joiner.Index, st.SyncInfo.LatestBlockHeight); err != nil {
		t.Fatal(err)
	}
	cl4, err := c.Client(joiner.Index)
	if err != nil {
		t.Fatal(err)
	}
	if st4, err := cl4.Status(ctx); err != nil || st4.SyncInfo.EarliestBlockHeight <= 1 {
		t.Fatalf("the new node's block store starts at %v (%v): it did not state-sync", st4, err)
	}

	// Admit: hospital 0 proposes, 1 and 2 vote yes (3 of 4 > 2/3).
	admit := &pb.Propose{Action: &pb.Propose_AdmitHospital{AdmitHospital: &pb.AdmitHospital{
		Id: member.ID, Name: member.Name, ValidatorPubkey: member.ValidatorPubKey, Power: 10,
		OperatorPubkey: member.OperatorPubKey, SealPubkey: member.SealPubKey,
	}}}
	passed := vote(t, ctx, c, ops, 0, admit, 1, 2)
	if _, err := c.WaitHeight(ctx, 0, passed+3); err != nil {
		t.Fatal(err)
	}
	if n := validatorCount(t, ctx, cl0); n != 5 {
		t.Fatalf("%d validators two heights after the admission, want 5", n)
	}
	waitEpoch(t, ctx, cl0, 2, []uint64{1, 2, 3, 4, 5})
	ops = append(ops, operatorKey(t, c, joiner.Index))

	// The new member imports its patients; a query now counts all five.
	if err := ImportHospital(ctx, c.Bin, *joiner, filepath.Join(cohort, "hospital4")); err != nil {
		t.Fatal(err)
	}
	run, err := RunQuery(ctx, c, q, 0)
	if err != nil {
		t.Fatal(err)
	}
	rq := researchQuery(t, ctx, cl0, run.ID)
	if rq.Epoch != 2 || !slices.Equal(rq.Contributors, []uint64{1, 2, 3, 4, 5}) || !slices.Equal(run.Values, want) {
		t.Fatalf("query after the admission: epoch %d, contributors %v, figures %v; want epoch 2, [1 2 3 4 5], truth.json's %v", rq.Epoch, rq.Contributors, run.Values, want)
	}

	// Remove hospital 1 (member 2): 0 proposes, 2, 3 and the new member
	// vote yes (4 of 5 > 2/3).
	passed = vote(t, ctx, c, ops, 0, &pb.Propose{Action: &pb.Propose_RemoveHospital{RemoveHospital: &pb.RemoveHospital{Id: "h1"}}}, 2, 3, 4)
	if _, err := c.WaitHeight(ctx, 0, passed+3); err != nil {
		t.Fatal(err)
	}
	if n := validatorCount(t, ctx, cl0); n != 4 {
		t.Fatalf("%d validators two heights after the removal, want 4", n)
	}
	waitEpoch(t, ctx, cl0, 3, []uint64{1, 3, 4, 5})
	run, err = RunQuery(ctx, c, q, 0)
	if err != nil {
		t.Fatal(err)
	}
	rq = researchQuery(t, ctx, cl0, run.ID)
	if rq.Status != pb.ResearchQuery_STATUS_RELEASED || rq.Epoch != 3 || !slices.Equal(rq.Contributors, []uint64{1, 3, 4, 5}) {
		t.Fatalf("query after the removal: %s (%s), epoch %d, contributors %v; want released in epoch 3 by [1 3 4 5]", rq.Status, rq.Reason, rq.Epoch, rq.Contributors)
	}
	if _, err := c.WaitHeight(ctx, joiner.Index, rq.StatusHeight); err != nil {
		t.Fatal(err)
	}
}

// waitSnapshot waits until every running validator holds a snapshot taken
// after the latest height now, and returns its height.
func waitSnapshot(t *testing.T, ctx context.Context, c *Cluster, cl *client.Client) int64 {
	t.Helper()
	st, err := cl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after := st.SyncInfo.LatestBlockHeight
	for {
		snap := latestSnapshot(c.Manifest.Nodes[0].Home)
		ready := snap >= after
		for i := 1; i < 4; i++ {
			ready = ready && latestSnapshot(c.Manifest.Nodes[i].Home) >= snap
		}
		if ready {
			return snap
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no snapshot at or after height %d on every validator", after)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// vote has member proposer propose p and the members voters vote yes
// through their own nodes; it checks the proposal was carried out and
// returns the height of the deciding vote.
func vote(t *testing.T, ctx context.Context, c *Cluster, ops []ed25519.PrivateKey, proposer int, p *pb.Propose, voters ...int) int64 {
	t.Helper()
	cl, err := c.Client(proposer)
	if err != nil {
		t.Fatal(err)
	}
	r, err := cl.Send(ctx, ops[proposer], governance.TypePropose, p, 30*time.Second)
	if err != nil || r.Code != 0 {
		t.Fatalf("propose %s: %v %+v", governance.ActionOf(p), err, r)
	}
	var id uint64
	for _, e := range r.Events {
		if e.Type == governance.EventProposed {
			id, _ = strconv.ParseUint(e.Attrs["id"], 10, 64)
		}
	}
	var last int64
	for _, v := range voters {
		cv, err := c.Client(v)
		if err != nil {
			t.Fatal(err)
		}
		r, err := cv.Send(ctx, ops[v], governance.TypeVote, &pb.Vote{Proposal: id, Yes: true}, 30*time.Second)
		if err != nil || r.Code != 0 {
			t.Fatalf("vote of member %d on proposal %d: %v %+v", v, id, err, r)
		}
		last = r.Height
	}
	var got pb.Proposal
	if err := queryInto(ctx, cl, fmt.Sprintf("/gov/proposal/%d", id), &got); err != nil {
		t.Fatal(err)
	}
	if got.Status != pb.Proposal_STATUS_EXECUTED {
		t.Fatalf("proposal %d (%s) is %s, want executed", id, governance.ActionOf(p), got.Status)
	}
	return last
}

func validatorCount(t *testing.T, ctx context.Context, cl *client.Client) int {
	t.Helper()
	v, err := cl.RPC().Validators(ctx, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v.Total
}

// waitEpoch waits until key epoch e is ready with exactly members.
func waitEpoch(t *testing.T, ctx context.Context, cl *client.Client, e uint64, members []uint64) {
	t.Helper()
	for {
		var ep pb.KeyEpoch
		q, err := cl.Query(ctx, fmt.Sprintf("/he/epoch/%d", e), 0, false)
		if err == nil && q.Value != nil && tx.Unmarshal(q.Value, &ep) == nil && ep.Ready {
			if !slices.Equal(ep.Members, members) {
				t.Fatalf("key epoch %d has members %v, want %v", e, ep.Members, members)
			}
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("key epoch %d not ready (last: %v, %v)", e, &ep, err)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func researchQuery(t *testing.T, ctx context.Context, cl *client.Client, id uint64) *pb.ResearchQuery {
	t.Helper()
	var rq pb.ResearchQuery
	if err := queryInto(ctx, cl, fmt.Sprintf("/research/query/%d", id), &rq); err != nil {
		t.Fatal(err)
	}
	return &rq
}
