package localnet

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
	"github.com/medchain/medchain/genesis"
	"github.com/medchain/medchain/he"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/report"
	"github.com/medchain/medchain/node/synth"
)

// TestResearchQueriesOnALocalnet is issue 5's correctness acceptance on a
// real 4-validator localnet: the hospitals import a synthetic cohort with
// the relay; their workers answer a researcher's encrypted queries from
// their vaults; with DP off (a test alliance) every figure the researcher
// decrypts — counts, an age histogram, a 61-bin Kaplan–Meier table, the
// sums of a linear regression, the moments of HbA1c among diabetics —
// equals truth.json exactly, and a question over a rare condition is
// refused at the cohort gate.
func TestResearchQueriesOnALocalnet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	begin := time.Now()
	r := genesis.DefaultResearch()
	r.DPOff, r.MinCohort, r.ContributionDeadlineBlocks = true, 5, 15
	c, dir, truth := researchLocalnet(t, ctx, r, 40, 7)
	say := func(format string, a ...any) { t.Logf(format, a...) }
	st := truth.Alliance.Stats
	if st.ByCondition["E84"] >= int(r.MinCohort) || st.HbA1cE11.Count < int(r.MinCohort) || truth.Alliance.SharedPersons == 0 {
		t.Fatalf("the cohort does not exercise the rules: E84 %d, HbA1c among E11 %d, shared persons %d", st.ByCondition["E84"], st.HbA1cE11.Count, truth.Alliance.SharedPersons)
	}
	res, err := ResearchStory(ctx, c, ResearchOptions{CohortDir: dir, Say: say})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Exact || len(res.Released) != 2 || res.Refused == 0 {
		t.Fatalf("result %+v", res)
	}
	t.Logf("released queries %v in %v", res.Released, res.Latency)

	// A member down: its validator is killed before the query; the query
	// waits for the contributions' deadline, goes on with the three others
	// (t = 3 decrypt), and says which hospitals are in the result.
	down := 3
	if err := c.Kill(down); err != nil {
		t.Fatal(err)
	}
	cl, err := c.Client(0)
	if err != nil {
		t.Fatal(err)
	}
	researcher := operatorKeyNamed(t, c, 0, ResearcherKeyName)
	p, lim := researchParams(t, ctx, cl)
	priv, pub, err := p.GenResearcherKey()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	id, err := submitQuery(ctx, cl, researcher, "SELECT count() AS OF '"+truth.RefDate+"'", pub, 0)
	if err != nil {
		t.Fatal(err)
	}
	rq, err := waitQuery(ctx, cl, id)
	if err != nil || rq.Status != pb.ResearchQuery_STATUS_RELEASED {
		t.Fatalf("query %d with member %d down: %v %v", id, down+1, rq, err)
	}
	got, _, err := decryptFigures(ctx, cl, p, lim, rq, priv)
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	for h := 0; h < down; h++ {
		want += int64(truth.PerHospital[h].Contributed.Count)
	}
	if !slices.Equal(rq.Contributors, []uint64{1, 2, 3}) || got[0] != want {
		t.Fatalf("query %d with member %d down: contributors %v, count %d, want [1 2 3] and %d", id, down+1, rq.Contributors, got[0], want)
	}
	t.Logf("query %d with hospital h%d down: released after the contribution deadline in %s, contributors %v, count %d = the three hospitals' truth",
		id, down, time.Since(start).Round(100*time.Millisecond), rq.Contributors, got[0])
	t.Logf("total %s", time.Since(begin).Round(100*time.Millisecond))
}

// researchParams reads the alliance's HE parameters and query limits.
func researchParams(t *testing.T, ctx context.Context, cl *client.Client) (*he.Params, query.Limits) {
	t.Helper()
	var ap pb.Params
	if err := queryInto(ctx, cl, "/params", &ap); err != nil {
		t.Fatal(err)
	}
	p, lim, err := report.Alliance(&ap)
	if err != nil {
		t.Fatal(err)
	}
	return p, lim
}

// operatorKeyNamed reads key name from node i's keyring.
func operatorKeyNamed(t *testing.T, c *Cluster, i int, name string) ed25519.PrivateKey {
	t.Helper()
	kr, err := keyring.Open(node.KeyringDir(c.Manifest.Nodes[i].Home), keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := kr.Signer(name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestResearchWithDifferentialPrivacy: with DP on, the same question asked
// four times gets four differently noised answers, each within 6σ of
// truth.json for the σ node/dp states, and each query takes exactly its ρ
// from the researcher's budget ledger.
func TestResearchWithDifferentialPrivacy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	r := genesis.DefaultResearch()
	r.MinCohort = 5
	c, _, truth := researchLocalnet(t, ctx, r, 60, 11)
	cl, err := c.Client(0)
	if err != nil {
		t.Fatal(err)
	}
	researcher := operatorKeyNamed(t, c, 0, ResearcherKeyName)
	addr := pb.AddressOf(researcher.Public().(ed25519.PublicKey))
	p, lim := researchParams(t, ctx, cl)
	priv, pub, err := p.GenResearcherKey()
	if err != nil {
		t.Fatal(err)
	}
	st := truth.Alliance.Stats
	const rho = 500_000 // ρ = 0.5 a query
	var answers [][]int64
	for run := 1; run <= 4; run++ {
		id, err := submitQuery(ctx, cl, researcher, "SELECT count(), histogram(age; 0,18,40,65,80,120) AS OF '"+truth.RefDate+"'", pub, rho)
		if err != nil {
			t.Fatal(err)
		}
		rq, err := waitQuery(ctx, cl, id)
		if err != nil || rq.Status != pb.ResearchQuery_STATUS_RELEASED {
			t.Fatalf("run %d: query %d: %v %v", run, id, rq, err)
		}
		got, sigmas, err := decryptFigures(ctx, cl, p, lim, rq, priv)
		if err != nil {
			t.Fatal(err)
		}
		exact := append([]int64{int64(st.Count)}, intsOf(st.AgeHistogram.Counts)...)
		for i := range got {
			if sigmas[i] <= 0 {
				t.Fatalf("run %d figure %d: no σ stated", run, i)
			}
			if dev := math.Abs(float64(got[i]-exact[i])) / sigmas[i]; dev > 6 {
				t.Fatalf("run %d figure %d: %d is %.1fσ from truth %d (σ = %.3g)", run, i, got[i], dev, exact[i], sigmas[i])
			}
		}
		var b pb.Budget
		if err := queryInto(ctx, cl, "/research/budget/"+addr, &b); err != nil {
			t.Fatal(err)
		}
		if b.SpentMicro != uint64(run)*rho {
			t.Fatalf("run %d: the ledger shows %d spent, want %d", run, b.SpentMicro, uint64(run)*rho)
		}
		t.Logf("run %d: query %d answered %v (truth %v, σ of the count %.2f); budget spent %s of %s",
			run, id, got, exact, sigmas[0], report.FormatMicro(b.SpentMicro), report.FormatMicro(b.GrantedMicro))
		answers = append(answers, got)
	}
	if slices.EqualFunc(answers[:1], answers[1:2], slices.Equal) && slices.EqualFunc(answers[1:2], answers[2:3], slices.Equal) {
		t.Fatal("three runs gave the same noised answer: no noise was added")
	}
}

func intsOf(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// researchLocalnet starts a 4-validator localnet with a researcher and the
// research rules r, waits for the key ceremony, has the hospitals import a
// synthetic cohort of patients each, and returns the cohort's folder and
// its truth.json.
func researchLocalnet(t *testing.T, ctx context.Context, r *genesis.Research, patients int, seed int64) (*Cluster, string, *synth.Truth) {
	t.Helper()
	c := startLocalnetWith(t, ctx, Options{Validators: 4, Researcher: true, Research: r})
	if err := c.WaitKeyCeremony(ctx); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(c.Manifest.Dir, "cohort")
	if err := ImportCohort(ctx, c, ImportOptions{Bin: medchainBinary(t), Dir: dir, Patients: patients, Seed: seed, Say: t.Logf}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var truth synth.Truth
	if err := json.Unmarshal(raw, &truth); err != nil {
		t.Fatal(err)
	}
	return c, dir, &truth
}
