package localnet

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
	"github.com/medchain/medchain/contracts/research"
	"github.com/medchain/medchain/he"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/dp"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/report"
	"github.com/medchain/medchain/node/synth"
)

// ResearchOptions configure ResearchStory.
type ResearchOptions struct {
	// CohortDir holds the imported cohort's truth.json.
	CohortDir string
	// RhoMicro is the budget each query spends when DP is on.
	RhoMicro uint64
	Say      func(format string, a ...any)
}

// ResearchResult is what ResearchStory measured.
type ResearchResult struct {
	Released []uint64 // queries released
	Refused  uint64   // the small-cohort query
	// Exact is true when the alliance runs without DP: every figure then
	// equalled truth.json.
	Exact bool
	// MaxDeviation is, with DP on, the largest |result − truth| / σ over
	// the figures.
	MaxDeviation float64
	Latency      []time.Duration // submit → released, per released query
	// Denied counts the txs the contract denied in a block (code 16): the
	// query over the budget left, with DP on.
	Denied int
}

// The story's questions, answered over the cohort of truth.json.
const (
	researchQ1 = "SELECT count(), histogram(age; 0,18,40,65,80,120), survival(C34; 30, 1825), linreg(sbp ~ age + bmi) AS OF '%s'"
	researchQ2 = "SELECT variance(hba1c) WHERE condition = 'E11' AS OF '%s'"
	researchQ3 = "SELECT count() WHERE condition = 'E84' AND sex = 'female' AS OF '%s'"
)

// ResearchStory asks the alliance's hospitals, whose workers answer from
// their vaults, two questions over the imported cohort and compares every
// figure the researcher decrypts with truth.json: exactly with DP off,
// within 6σ of the stated noise with DP on. A question about a rare
// condition is refused at the cohort gate, and, with DP on, a question
// over the budget left is refused before any hospital computes.
func ResearchStory(ctx context.Context, c *Cluster, o ResearchOptions) (*ResearchResult, error) {
	say := o.Say
	if say == nil {
		say = func(string, ...any) {}
	}
	raw, err := os.ReadFile(filepath.Join(o.CohortDir, "truth.json"))
	if err != nil {
		return nil, err
	}
	var truth synth.Truth
	if err := json.Unmarshal(raw, &truth); err != nil {
		return nil, err
	}
	cl, err := c.Client(0)
	if err != nil {
		return nil, err
	}
	kr, err := keyring.Open(node.KeyringDir(c.Manifest.Nodes[0].Home), keyring.BackendTest, nil)
	if err != nil {
		return nil, err
	}
	researcher, err := kr.Signer(ResearcherKeyName)
	if err != nil {
		return nil, fmt.Errorf("the localnet has no researcher (Options.Researcher): %w", err)
	}
	var ap pb.Params
	if err := queryInto(ctx, cl, "/params", &ap); err != nil {
		return nil, err
	}
	p, lim, err := report.Alliance(&ap)
	if err != nil {
		return nil, err
	}
	dpOff := ap.Research.DpOff
	rho := o.RhoMicro
	if dpOff {
		rho = 0
	} else if rho == 0 {
		rho = 1_000_000
	}
	priv, pub, err := p.GenResearcherKey()
	if err != nil {
		return nil, err
	}
	res := &ResearchResult{Exact: dpOff}
	st := truth.Alliance.Stats
	mode := "with differential privacy, ρ = " + report.FormatMicro(rho) + " per query"
	if dpOff {
		mode = "without differential privacy (test alliance): results must equal truth.json exactly"
	}
	say("a researcher asks the %d hospitals two questions over %d consenting persons, %s", len(c.Manifest.Nodes), truth.Alliance.ConsentingPersons, mode)

	for _, q := range []struct {
		text string
		want []int64
	}{
		{fmt.Sprintf(researchQ1, truth.RefDate), q1Truth(st)},
		{fmt.Sprintf(researchQ2, truth.RefDate), []int64{int64(st.HbA1cE11.Count), st.HbA1cE11.Sum, st.HbA1cE11.SumSquares}},
	} {
		start := time.Now()
		id, err := submitQuery(ctx, cl, researcher, q.text, pub, rho)
		if err != nil {
			return nil, err
		}
		rq, err := waitQuery(ctx, cl, id)
		if err != nil {
			return nil, err
		}
		if rq.Status != pb.ResearchQuery_STATUS_RELEASED {
			return nil, fmt.Errorf("query %d (%s): %s: %s", id, q.text, rq.Status, rq.Reason)
		}
		res.Released = append(res.Released, id)
		res.Latency = append(res.Latency, time.Since(start))
		got, sigmas, err := decryptFigures(ctx, cl, p, lim, rq, priv)
		if err != nil {
			return nil, err
		}
		if len(got) != len(q.want) {
			return nil, fmt.Errorf("query %d: %d figures, truth has %d", id, len(got), len(q.want))
		}
		for i := range got {
			switch {
			case dpOff && got[i] != q.want[i]:
				return nil, fmt.Errorf("query %d figure %d: the alliance answered %d, truth.json says %d", id, i, got[i], q.want[i])
			case !dpOff && sigmas[i] > 0:
				dev := math.Abs(float64(got[i]-q.want[i])) / sigmas[i]
				res.MaxDeviation = max(res.MaxDeviation, dev)
				if dev > 6 {
					return nil, fmt.Errorf("query %d figure %d: %d is %.1fσ from truth %d (σ = %.3g)", id, i, got[i], dev, q.want[i], sigmas[i])
				}
			}
		}
		say("query %d released in %s to the researcher alone, contributed by hospitals %v (noised cohort count %d): %s",
			id, time.Since(start).Round(100*time.Millisecond), rq.Contributors, rq.NoisedCount, summary(rq, got, q.want, dpOff))
	}

	// A rare condition: the gate refuses it, and nothing is switched.
	id, err := submitQuery(ctx, cl, researcher, fmt.Sprintf(researchQ3, truth.RefDate), pub, rho)
	if err != nil {
		return nil, err
	}
	rq, err := waitQuery(ctx, cl, id)
	if err != nil {
		return nil, err
	}
	if rq.Status != pb.ResearchQuery_STATUS_REFUSED || rq.ReleaseRequest != 0 {
		return nil, fmt.Errorf("query %d over a rare condition: %s %q (release request %d), want refused at the cohort gate", id, rq.Status, rq.Reason, rq.ReleaseRequest)
	}
	res.Refused = id
	say("query %d (women with cystic fibrosis, E84) refused: %s; its figures were never decrypted", id, rq.Reason)

	if !dpOff {
		var b pb.Budget
		if err := queryInto(ctx, cl, "/research/budget/"+pb.AddressOf(researcher.Public().(ed25519.PublicKey)), &b); err != nil {
			return nil, err
		}
		left := b.GrantedMicro - b.SpentMicro
		if b.SpentMicro != 3*rho {
			return nil, fmt.Errorf("budget ledger: spent %d, want %d", b.SpentMicro, 3*rho)
		}
		_, err := submitQuery(ctx, cl, researcher, fmt.Sprintf(researchQ2, truth.RefDate), pub, left+1)
		var ce *client.CodeError
		if !errors.As(err, &ce) || ce.Code == 0 {
			return nil, fmt.Errorf("a query over the budget left: want a refusal, got %v", err)
		}
		say("a query asking ρ = %s with %s left of %s is refused: %s", report.FormatMicro(left+1), report.FormatMicro(left), report.FormatMicro(b.GrantedMicro), ce.Log)
		res.Denied++
	}
	return res, nil
}

// q1Truth lays truth's figures out in researchQ1's figure order.
func q1Truth(st synth.Stats) []int64 {
	out := []int64{int64(st.Count)}
	for _, n := range st.AgeHistogram.Counts {
		out = append(out, int64(n))
	}
	km := st.SurvivalC34
	for k := range km.AtRisk {
		out = append(out, int64(km.AtRisk[k]), int64(km.Events[k]), int64(km.Censored[k]))
	}
	l := st.LinregSBP
	for a := range l.XtX {
		for b := a; b < len(l.XtX); b++ {
			out = append(out, l.XtX[a][b])
		}
	}
	out = append(out, l.Xty...)
	return append(out, l.Yty)
}

func summary(rq *pb.ResearchQuery, got, want []int64, exact bool) string {
	cmp := "equal to truth.json"
	if !exact {
		cmp = "truth.json plus noise"
	}
	if len(got) == 3 {
		n, s := got[0], got[1]
		mean := 0.0
		if n > 0 {
			mean = float64(s) / float64(n) / 100
		}
		return fmt.Sprintf("HbA1c of diabetics: n = %d, mean %.2f %% (%s: n = %d, mean %.2f %%)", n, mean, cmp, want[0], float64(want[1])/float64(max(want[0], 1))/100)
	}
	return fmt.Sprintf("count %d, age histogram %v, 61-bin Kaplan–Meier table of C34, regression sums (%d figures, %s; truth count %d)", got[0], got[1:6], len(got), cmp, want[0])
}

func submitQuery(ctx context.Context, cl *client.Client, researcher ed25519.PrivateKey, text string, pub []byte, rho uint64) (uint64, error) {
	return submit(ctx, cl, researcher, text, &pb.SubmitQuery{ResearcherKey: pub, RhoMicro: rho})
}

// submitPlaintextQuery submits text as a plaintext-baseline query.
func submitPlaintextQuery(ctx context.Context, cl *client.Client, researcher ed25519.PrivateKey, text string) (uint64, error) {
	return submit(ctx, cl, researcher, text, &pb.SubmitQuery{Plaintext: true})
}

// submit sends s with the query text and returns the query's id.
func submit(ctx context.Context, cl *client.Client, researcher ed25519.PrivateKey, text string, s *pb.SubmitQuery) (uint64, error) {
	q, err := query.Parse(text)
	if err != nil {
		return 0, err
	}
	s.Query = q
	r, err := cl.Send(ctx, researcher, research.TypeSubmit, s, 60*time.Second)
	if err != nil {
		return 0, err
	}
	if r.Code != 0 {
		return 0, &client.CodeError{Code: r.Code, Log: r.Log}
	}
	for _, e := range r.Events {
		if e.Type == research.EventSubmitted {
			return strconv.ParseUint(e.Attrs["id"], 10, 64)
		}
	}
	return 0, errors.New("no research.submitted event")
}

// waitQuery waits until query id is released, refused or failed.
func waitQuery(ctx context.Context, cl *client.Client, id uint64) (*pb.ResearchQuery, error) {
	for {
		var rq pb.ResearchQuery
		if err := queryInto(ctx, cl, fmt.Sprintf("/research/query/%d", id), &rq); err != nil {
			return nil, err
		}
		switch rq.Status {
		case pb.ResearchQuery_STATUS_RELEASED, pb.ResearchQuery_STATUS_REFUSED, pb.ResearchQuery_STATUS_FAILED:
			return &rq, nil
		}
		if err := sleep(ctx, 300*time.Millisecond); err != nil {
			return nil, fmt.Errorf("query %d still %s: %w", id, rq.Status, err)
		}
	}
}

// decryptFigures decrypts a released result and returns its figures in
// layout order, with the σ of each figure's DP noise (0 with DP off).
func decryptFigures(ctx context.Context, cl *client.Client, p *he.Params, lim query.Limits, rq *pb.ResearchQuery, priv []byte) ([]int64, []float64, error) {
	q, err := cl.Query(ctx, "/blob/"+hex.EncodeToString(rq.ResultHash), 0, false)
	if err != nil {
		return nil, nil, err
	}
	vals, err := p.Decrypt(priv, q.Value)
	if err != nil {
		return nil, nil, err
	}
	return figuresOf(ctx, cl, lim, rq, vals)
}

// plainFigures returns a released plaintext-baseline query's figures in
// layout order, as decryptFigures does for an encrypted one.
func plainFigures(ctx context.Context, cl *client.Client, lim query.Limits, rq *pb.ResearchQuery) ([]int64, []float64, error) {
	if !rq.Plaintext || len(rq.PlainResult) != int(rq.Slots) {
		return nil, nil, fmt.Errorf("query %d has no plaintext result (%d values for %d slots)", rq.Id, len(rq.PlainResult), rq.Slots)
	}
	return figuresOf(ctx, cl, lim, rq, rq.PlainResult)
}

// figuresOf joins the packed vector vals of rq into its figures, with the
// σ of each figure's DP noise (0 with DP off).
func figuresOf(ctx context.Context, cl *client.Client, lim query.Limits, rq *pb.ResearchQuery, vals []int64) ([]int64, []float64, error) {
	plan, err := query.Layout(rq.Query, research.QueryLimits(lim, rq))
	if err != nil {
		return nil, nil, err
	}
	var sigmas []float64
	if !rq.DpOff {
		var ep pb.KeyEpoch
		if err := queryInto(ctx, cl, fmt.Sprintf("/he/epoch/%d", rq.Epoch), &ep); err != nil {
			return nil, nil, err
		}
		d, err := dp.Describe(plan, rq.RhoMicro, dp.Shares(len(ep.Members), int(ep.Threshold)), len(rq.Contributors))
		if err != nil {
			return nil, nil, err
		}
		for _, f := range d.Figures {
			sigmas = append(sigmas, f.StdDev)
		}
	}
	var out []int64
	for _, b := range plan.Blocks {
		for _, f := range b.Figures {
			v, err := f.Join(vals)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, v)
			if rq.DpOff {
				sigmas = append(sigmas, 0)
			}
		}
	}
	return out, sigmas, nil
}

// queryInto reads path from the node's committed state into m; a missing
// value is an error.
func queryInto(ctx context.Context, cl *client.Client, path string, m proto.Message) error {
	q, err := cl.Query(ctx, path, 0, false)
	if err != nil {
		return err
	}
	if q.Value == nil {
		return fmt.Errorf("%s: no value", path)
	}
	return tx.Unmarshal(q.Value, m)
}

// QueryRun is one research query's way through the alliance, as its
// researcher saw it (statuses polled every 50 ms, so each mark is late by
// up to that).
type QueryRun struct {
	ID     uint64
	Status pb.ResearchQuery_Status
	// Committed is when the submission was committed; Aggregated when
	// every contribution was in and summed (status GATING); Gated when the
	// cohort count was decrypted (RELEASING); Released when the result was
	// switched to the researcher (RELEASED). All from the submission's
	// start.
	Committed, Aggregated, Gated, Released time.Duration
	// Decrypt is the researcher's local decryption and decoding.
	Decrypt time.Duration
	Figures int
	// Values are the released figures, in layout order.
	Values []int64
	// Plaintext: a plaintext-baseline run (RunPlaintextQuery). Its
	// contributions are summed, gated and released in one block, so
	// Aggregated and Gated equal Released, and Decrypt is decoding only.
	Plaintext bool
}

// RunQuery submits text as the localnet's researcher (a fresh HE key,
// rhoMicro of budget) and follows it to its end.
func RunQuery(ctx context.Context, c *Cluster, text string, rhoMicro uint64) (*QueryRun, error) {
	return runQuery(ctx, c, text, rhoMicro, false)
}

// RunPlaintextQuery is RunQuery's plaintext baseline, for the benchmark:
// the same question, answered by the hospitals with plaintext figures that
// the contract sums and releases (no encryption, no decryption requests).
// The alliance must have research.plaintext_baseline and dp_off.
func RunPlaintextQuery(ctx context.Context, c *Cluster, text string) (*QueryRun, error) {
	return runQuery(ctx, c, text, 0, true)
}

func runQuery(ctx context.Context, c *Cluster, text string, rhoMicro uint64, plaintext bool) (*QueryRun, error) {
	cl, err := c.Client(0)
	if err != nil {
		return nil, err
	}
	kr, err := keyring.Open(node.KeyringDir(c.Manifest.Nodes[0].Home), keyring.BackendTest, nil)
	if err != nil {
		return nil, err
	}
	researcher, err := kr.Signer(ResearcherKeyName)
	if err != nil {
		return nil, err
	}
	var ap pb.Params
	if err := queryInto(ctx, cl, "/params", &ap); err != nil {
		return nil, err
	}
	p, lim, err := report.Alliance(&ap)
	if err != nil {
		return nil, err
	}
	var priv, pub []byte
	if !plaintext {
		if priv, pub, err = p.GenResearcherKey(); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	var id uint64
	if plaintext {
		id, err = submitPlaintextQuery(ctx, cl, researcher, text)
	} else {
		id, err = submitQuery(ctx, cl, researcher, text, pub, rhoMicro)
	}
	if err != nil {
		return nil, err
	}
	r := &QueryRun{ID: id, Committed: time.Since(start), Plaintext: plaintext}
	for {
		var rq pb.ResearchQuery
		if err := queryInto(ctx, cl, fmt.Sprintf("/research/query/%d", id), &rq); err != nil {
			return nil, err
		}
		now := time.Since(start)
		r.Status = rq.Status
		switch rq.Status {
		case pb.ResearchQuery_STATUS_GATING:
			if r.Aggregated == 0 {
				r.Aggregated = now
			}
		case pb.ResearchQuery_STATUS_RELEASING:
			if r.Aggregated == 0 {
				r.Aggregated = now
			}
			if r.Gated == 0 {
				r.Gated = now
			}
		case pb.ResearchQuery_STATUS_RELEASED:
			r.Released = now
			t0 := time.Now()
			var figs []int64
			if plaintext {
				r.Aggregated, r.Gated = now, now
				figs, _, err = plainFigures(ctx, cl, lim, &rq)
			} else {
				figs, _, err = decryptFigures(ctx, cl, p, lim, &rq, priv)
			}
			if err != nil {
				return nil, err
			}
			r.Decrypt, r.Figures, r.Values = time.Since(t0), len(figs), figs
			return r, nil
		case pb.ResearchQuery_STATUS_REFUSED, pb.ResearchQuery_STATUS_FAILED:
			return r, fmt.Errorf("query %d: %s: %s", id, rq.Status, rq.Reason)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
}
