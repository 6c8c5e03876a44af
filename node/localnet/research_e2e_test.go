package localnet

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/medchain/medchain/genesis"
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
	r.DPOff, r.MinCohort, r.ContributionDeadlineBlocks = true, 5, 30
	c := startLocalnetWith(t, ctx, Options{Validators: 4, Researcher: true, Research: r})
	if err := c.WaitKeyCeremony(ctx); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(c.Manifest.Dir, "cohort")
	say := func(format string, a ...any) { t.Logf(format, a...) }
	if err := ImportCohort(ctx, c, ImportOptions{Bin: medchainBinary(t), Dir: dir, Patients: 40, Seed: 7, Say: say}); err != nil {
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
	t.Logf("released queries %v in %v; total %s", res.Released, res.Latency, time.Since(begin).Round(100*time.Millisecond))
}
