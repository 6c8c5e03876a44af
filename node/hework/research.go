package hework

import (
	"context"
	"fmt"
	"os"
	"slices"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/research"
	"github.com/medchain/medchain/node/chainrpc"
)

// Contributor computes this member's answer to research queries
// (node/researchwork: the hospital's own consenting patients, noised,
// encrypted under the collective key; in plain for a plaintext-baseline
// query). A nil Contributor: the member contributes nothing.
type Contributor interface {
	// Contribution returns the "research.contribute" payload of member me
	// for q. It is called again only if it failed.
	Contribution(ctx context.Context, q *pb.ResearchQuery, me uint64) (*pb.Contribute, error)
}

const activeQueriesPath = "/research/active"

// researchDuty posts this member's contribution to every query still
// collecting that lacks it, among the queries of key epochs it is a member
// of. A contribution is computed once per process
// and its bytes resent if needed: a second, differently noised answer to
// the same query is never made while the first may still land.
func (w *Worker) researchDuty(ctx context.Context) error {
	if w.cfg.Contributor == nil || os.Getenv(FaultNoResearchEnv) != "" {
		return nil
	}
	list, err := chainrpc.QueryMessage[pb.ResearchQueryList](ctx, w.cfg.Chain, activeQueriesPath)
	if err != nil {
		return err
	}
	if list == nil {
		return nil
	}
	me := w.member
	live := map[uint64]bool{}
	for _, q := range list.Queries {
		live[q.Id] = true
		duty := fmt.Sprintf("contribute/%d", q.Id)
		if q.Status != pb.ResearchQuery_STATUS_COLLECTING || slices.Contains(q.Contributors, me) {
			delete(w.inflight, duty)
			delete(w.contributions, q.Id)
			continue
		}
		if w.height >= q.DeadlineHeight {
			continue // too late: a tx now lands after the deadline
		}
		// The contract takes contributions only from the members of the
		// query's key epoch (a hospital admitted since is not one).
		if in, err := w.inEpoch(ctx, q.Epoch, me); err != nil {
			return err
		} else if !in {
			continue
		}
		w.duty(ctx, fmt.Sprintf("query/%d", q.Id), func(ctx context.Context) error {
			c := w.contributions[q.Id]
			if c == nil {
				if c, err = w.cfg.Contributor.Contribution(ctx, q, me); err != nil {
					return fmt.Errorf("query %d: %w", q.Id, err)
				}
				w.contributions[q.Id] = c
				w.log.Info("HE worker: computed this member's contribution to a research query", "query", q.Id,
					"slots", q.Slots, "dp_off", q.DpOff, "plaintext", q.Plaintext)
			}
			_, err := w.send(ctx, duty, research.TypeContribute, c)
			return err
		})
	}
	for id := range w.contributions {
		if !live[id] {
			delete(w.contributions, id)
		}
	}
	return nil
}
