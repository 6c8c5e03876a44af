// Package researchwork is a member hospital's answer to research queries:
// it evaluates a query on the hospital's own vault (node/cohort), over the
// patients who consent at the query's height and whom this hospital
// contributes for the alliance, adds the hospital's share of the
// differential-privacy noise (node/dp), and encrypts the packed figures and
// the noised cohort count under the collective key. The HE worker
// (node/hework) posts the result. A plaintext-baseline query (benchmark
// alliances only) is answered by the same evaluation, posted in plain.
package researchwork

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
	"github.com/medchain/medchain/contracts/research"
	"github.com/medchain/medchain/he"
	"github.com/medchain/medchain/node/cohort"
	"github.com/medchain/medchain/node/dp"
	"github.com/medchain/medchain/node/report"
)

// Chain reads committed state: the value at path, nil if none.
type Chain interface {
	Query(ctx context.Context, path string) ([]byte, error)
}

// Logger is what the contributor logs with (CometBFT's logger fits).
type Logger interface {
	Info(msg string, keyvals ...any)
}

// Config configures a Contributor.
type Config struct {
	Chain  Chain
	Params *he.Params
	// Hospital is this member's hospital id; empty, the hospital with the
	// member index the worker passes (a hospital admitted by vote is not
	// in genesis).
	Hospital string
	// Vault is the hospital's vault (node/gateway's lease in a node).
	Vault    cohort.Vault
	SealPriv [32]byte // the hospital's seal key: it opens the vault's data keys
	Logger   Logger
}

// Contributor implements hework.Contributor.
type Contributor struct {
	cfg Config

	mu      sync.Mutex
	table   *cohort.Table
	entries int // vault entries when table was loaded
}

// New returns a Contributor.
func New(cfg Config) (*Contributor, error) {
	if cfg.Chain == nil || cfg.Params == nil || cfg.Vault == nil || cfg.Logger == nil {
		return nil, fmt.Errorf("researchwork: chain, HE parameters, vault and logger are required")
	}
	return &Contributor{cfg: cfg}, nil
}

// Contribution evaluates q on this hospital's patients and returns the
// encrypted, noised answer of member me; for a plaintext-baseline query
// (q.Plaintext, which has DP off) the same figures in plain.
func (c *Contributor) Contribution(ctx context.Context, q *pb.ResearchQuery, me uint64) (*pb.Contribute, error) {
	var ap pb.Params
	if err := c.get(ctx, "/params", &ap); err != nil {
		return nil, err
	}
	lim, err := report.Limits(&ap, c.cfg.Params)
	if err != nil {
		return nil, err
	}
	lim = research.QueryLimits(lim, q)
	plan, err := query.Layout(q.Query, lim)
	if err != nil {
		return nil, err
	}
	var ep pb.KeyEpoch
	if err := c.get(ctx, fmt.Sprintf("/he/epoch/%d", q.Epoch), &ep); err != nil {
		return nil, err
	}
	var pk []byte
	if !q.Plaintext {
		pk, err = c.cfg.Chain.Query(ctx, "/blob/"+hex.EncodeToString(ep.PublicKeyHash))
		if err != nil || pk == nil {
			return nil, fmt.Errorf("the collective key of epoch %d: %v", q.Epoch, err)
		}
	}
	t, err := c.loadTable()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	include, err := c.includer(ctx, q, me)
	if err != nil {
		return nil, err
	}
	t1 := time.Now()
	vec, err := cohort.Evaluate(t, q.Query, lim, include)
	if err != nil {
		return nil, err
	}
	countQ := &pb.Query{Statistics: []*pb.Statistic{{Kind: &pb.Statistic_Count{Count: &pb.Count{}}}}, Where: q.Query.Where, RefDate: q.Query.RefDate}
	cv, err := cohort.Evaluate(t, countQ, lim, include)
	if err != nil {
		return nil, err
	}
	count := cv[0]
	t2 := time.Now()
	if !q.DpOff {
		m := dp.Shares(len(ep.Members), int(ep.Threshold))
		noise, err := dp.Noise(plan, q.RhoMicro, m)
		if err != nil {
			return nil, err
		}
		k := 0
		for _, b := range plan.Blocks {
			for _, f := range b.Figures {
				own, err := f.Join(vec)
				if err != nil {
					return nil, err
				}
				f.Split(vec, own+noise[k])
				k++
			}
		}
		cn, err := dp.CohortNoise(plan, q.RhoMicro, m)
		if err != nil {
			return nil, err
		}
		count += cn
	}
	if q.Plaintext {
		if len(vec) != plan.Slots {
			return nil, fmt.Errorf("query %d: the evaluation gave %d values for %d slots", q.Id, len(vec), plan.Slots)
		}
		c.cfg.Logger.Info("research: evaluated a plaintext-baseline query on this hospital's vault", "query", q.Id, "patients", t.Len(), "slots", plan.Slots,
			"subjects_ms", t1.Sub(t0).Milliseconds(), "evaluate_ms", t2.Sub(t1).Milliseconds())
		return &pb.Contribute{Query: q.Id, PlainResult: vec, PlainCount: count}, nil
	}
	result, err := c.cfg.Params.EncodeEncrypt(pk, vec)
	if err != nil {
		return nil, err
	}
	countCT, err := c.cfg.Params.EncodeEncrypt(pk, []int64{count})
	if err != nil {
		return nil, err
	}
	c.cfg.Logger.Info("research: evaluated a query on this hospital's vault", "query", q.Id, "patients", t.Len(), "slots", plan.Slots, "dp_off", q.DpOff,
		"subjects_ms", t1.Sub(t0).Milliseconds(), "evaluate_ms", t2.Sub(t1).Milliseconds(), "encrypt_ms", time.Since(t2).Milliseconds())
	return &pb.Contribute{Query: q.Id, Result: result, Count: countCT}, nil
}

// Preload keeps the hospital's table loaded until ctx ends: it loads it
// now and then checks the vault every interval, reloading when entries
// came or went (an import, an erasure). A query then finds the table warm
// instead of paying the load — about 85 µs per vault entry, tens of
// seconds for a large hospital — inside its contribution deadline. Errors
// are logged and retried at the next interval.
func (c *Contributor) Preload(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := c.loadTable(); err != nil && ctx.Err() == nil {
			c.cfg.Logger.Info("research: the vault could not be loaded ahead of queries; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// loadTable returns the hospital's table, loading it again when the vault
// gained or lost entries (an import, an erasure).
func (c *Contributor) loadTable() (*cohort.Table, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids, err := c.cfg.Vault.List()
	if err != nil {
		return nil, err
	}
	if c.table != nil && len(ids) == c.entries {
		return c.table, nil
	}
	t, err := cohort.LoadFrom(c.cfg.Vault, c.cfg.SealPriv, c.cfg.Logger)
	if err != nil {
		return nil, err
	}
	c.table, c.entries = t, len(ids)
	return t, nil
}

// includer decides, for each patient of t, whether this hospital counts
// it: the chain lists the hospital's research subjects at the query's
// height (consent opt-in then, and this hospital the person's contributor:
// research.Subjects) in one list query.
func (c *Contributor) includer(ctx context.Context, q *pb.ResearchQuery, me uint64) (func(string) bool, error) {
	hospital := c.cfg.Hospital
	if hospital == "" {
		var hs pb.HospitalList
		if err := c.get(ctx, "/hospitals", &hs); err != nil {
			return nil, err
		}
		for _, h := range hs.Hospitals {
			if h.MemberIndex == me {
				hospital = h.Id
			}
		}
		if hospital == "" {
			return nil, fmt.Errorf("no hospital on chain has member index %d", me)
		}
	}
	var s pb.ResearchSubjects
	if err := c.get(ctx, fmt.Sprintf("/research/subjects/%s/%d", hospital, q.Height), &s); err != nil {
		return nil, err
	}
	in := make(map[string]bool, len(s.Pseudonyms))
	for _, p := range s.Pseudonyms {
		in[p] = true
	}
	return func(p string) bool { return in[p] }, nil
}

// get decodes the value at path into m; a missing value leaves m empty.
func (c *Contributor) get(ctx context.Context, path string, m proto.Message) error {
	b, err := c.cfg.Chain.Query(ctx, path)
	if err != nil || b == nil {
		return err
	}
	if err := tx.Unmarshal(b, m); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
