package localnet

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/genesis"
)

// TestPlaintextBaselineNextToEncrypted is the benchmark's side-by-side on
// a real 4-validator localnet of a benchmark alliance (plaintext_baseline,
// DP off): the hospitals import a synthetic cohort; the same question is
// asked encrypted (RunQuery) and as a plaintext baseline
// (RunPlaintextQuery); both answers equal truth.json figure by figure. The
// baseline is released without any decryption request.
func TestPlaintextBaselineNextToEncrypted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r := genesis.DefaultResearch()
	r.DPOff, r.PlaintextBaseline, r.MinCohort, r.ContributionDeadlineBlocks = true, true, 5, 15
	c, _, truth := researchLocalnet(t, ctx, r, 30, 5)
	text := fmt.Sprintf(researchQ1, truth.RefDate)
	want := q1Truth(truth.Alliance.Stats)

	enc, err := RunQuery(ctx, c, text, 0)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := RunPlaintextQuery(ctx, c, text)
	if err != nil {
		t.Fatal(err)
	}
	for _, run := range []*QueryRun{enc, plain} {
		if run.Status != pb.ResearchQuery_STATUS_RELEASED || !slices.Equal(run.Values, want) {
			t.Fatalf("query %d (plaintext %v): %s, %d figures; want truth.json's %d figures\n got  %v\n want %v",
				run.ID, run.Plaintext, run.Status, len(run.Values), len(want), run.Values, want)
		}
	}
	cl, err := c.Client(0)
	if err != nil {
		t.Fatal(err)
	}
	var rq pb.ResearchQuery
	if err := queryInto(ctx, cl, fmt.Sprintf("/research/query/%d", plain.ID), &rq); err != nil {
		t.Fatal(err)
	}
	if !rq.Plaintext || rq.GateRequest != 0 || rq.ReleaseRequest != 0 || len(rq.Contributors) != len(c.Manifest.Nodes) {
		t.Fatalf("plaintext query record: plaintext %v, requests %d/%d, contributors %v", rq.Plaintext, rq.GateRequest, rq.ReleaseRequest, rq.Contributors)
	}
	t.Logf("%d figures equal truth.json both ways; submit → released: encrypted %s (aggregated %s, count decrypted %s), plaintext baseline %s",
		len(want), enc.Released.Round(10*time.Millisecond), enc.Aggregated.Round(10*time.Millisecond), enc.Gated.Round(10*time.Millisecond),
		plain.Released.Round(10*time.Millisecond))
}
