package research

import (
	"fmt"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
)

// The plaintext baseline (docs/QUERIES.md): in a benchmark alliance
// (research.plaintext_baseline, which needs dp_off) a researcher may ask a
// query with SubmitQuery.plaintext. It has the same lifecycle and the same
// contributor rules as an encrypted query, but the members post their
// packed vector and cohort count in plain; the contract sums them in int64
// with overflow checks, gates on the summed count itself (no public
// decryption) and releases the summed vector in the query record (no key
// switch). It exists only so that the cost of the encryption can be
// measured next to the same query encrypted.

// allowPlaintext refuses a plaintext-baseline query unless the alliance
// allows it. The refusal is ErrDenied (code 16): the tx is well formed and
// authenticated, but the alliance's rules say no, and auditors see it in
// the block.
func allowPlaintext(rp *pb.ResearchParams) error {
	switch {
	case !rp.PlaintextBaseline:
		return fmt.Errorf("%w: this alliance takes no plaintext-baseline query (research.plaintext_baseline is off; only benchmark alliances turn it on): submit the query encrypted, with a researcher_key", contracts.ErrDenied)
	case !rp.DpOff:
		return fmt.Errorf("%w: a plaintext-baseline query needs an alliance without differential privacy (research.dp_off): the baseline measures the cost of encryption, not of noise", contracts.ErrDenied)
	}
	return nil
}

// contributionKind reports whether c is a plaintext contribution
// (plain_result, plain_count) rather than an encrypted one (result,
// count), and refuses one that is both or neither.
func contributionKind(c *pb.Contribute) (plain bool, err error) {
	plain = len(c.PlainResult) > 0 || c.PlainCount != 0
	enc := len(c.Result) > 0 || len(c.Count) > 0
	switch {
	case plain && enc:
		return false, invalid("a contribution carries ciphertexts (result, count) or, to a plaintext-baseline query, plain figures (plain_result, plain_count); not both")
	case !plain && !enc:
		return false, invalid("an empty contribution: send result and count (ciphertexts under the collective key) or, to a plaintext-baseline query, plain_result and plain_count")
	}
	return plain, nil
}

// checkPlainContribution checks the form of a plaintext contribution
// against the alliance's limits: at most lim.MaxSlots values, each within
// ±lim.SlotBound (as an encrypted slot must be), and a cohort count in
// [0, lim.MaxPatients].
func checkPlainContribution(c *pb.Contribute, lim query.Limits) error {
	if len(c.PlainResult) > lim.MaxSlots {
		return invalid("plain_result has %d values; a packed vector has at most %d", len(c.PlainResult), lim.MaxSlots)
	}
	for i, v := range c.PlainResult {
		if v > lim.SlotBound || v < -lim.SlotBound {
			return invalid("plain_result[%d] = %d is outside ±%d, the range of one slot", i, v, lim.SlotBound)
		}
	}
	if c.PlainCount < 0 || c.PlainCount > lim.MaxPatients {
		return invalid("plain_count %d must be in [0, %d] (the alliance's max_patients)", c.PlainCount, lim.MaxPatients)
	}
	return nil
}

// plainContribution checks m as member's contribution to plaintext query
// q and fills rec with its figures.
func plainContribution(ctx *contracts.Context, q *pb.ResearchQuery, m *pb.Contribute, rec *pb.Contribution) error {
	plain, err := contributionKind(m)
	if err != nil {
		return err
	}
	if !plain {
		return invalid("query %d is a plaintext-baseline query: send plain_result and plain_count, not ciphertexts", q.Id)
	}
	lim, err := Limits(ctx.Store)
	if err != nil {
		return err
	}
	if err := checkPlainContribution(m, QueryLimits(lim, q)); err != nil {
		return err
	}
	if len(m.PlainResult) != int(q.Slots) {
		return invalid("plain_result has %d values; query %d packs its figures in %d slots (query.Layout)", len(m.PlainResult), q.Id, q.Slots)
	}
	rec.PlainResult = append([]int64(nil), m.PlainResult...)
	rec.PlainCount = m.PlainCount
	return nil
}

// aggregatePlain sums the plaintext contributions of q, gates on the
// summed cohort count and, if it passes, releases the summed vector in q
// (status RELEASED). q is changed in place; the caller stores it.
func aggregatePlain(ctx *contracts.Context, q *pb.ResearchQuery) error {
	rp, err := Params(ctx.Store)
	if err != nil {
		return err
	}
	sum := make([]int64, q.Slots)
	var count int64
	for _, member := range q.Contributors {
		var c pb.Contribution
		if _, err := contracts.GetRecord(ctx.Store, ContributionKey(q.Id, member), &c); err != nil {
			return err
		}
		if len(c.PlainResult) != len(sum) {
			return fail(ctx, q, fmt.Sprintf("member %d's contribution has %d values, the query %d slots", member, len(c.PlainResult), len(sum)))
		}
		for i, v := range c.PlainResult {
			s, ok := addInt64(sum[i], v)
			if !ok {
				return fail(ctx, q, fmt.Sprintf("adding the contributions: slot %d overflows 64 bits", i))
			}
			sum[i] = s
		}
		s, ok := addInt64(count, c.PlainCount)
		if !ok {
			return fail(ctx, q, "adding the cohort counts overflows 64 bits")
		}
		count = s
	}
	q.NoisedCount = count // exact: a plaintext query has no noise
	ctx.Emit(EventAggregated,
		contracts.Attr{Key: "id", Value: itoa(q.Id), Index: true},
		contracts.Attr{Key: "contributors", Value: joinIdx(q.Contributors)},
		contracts.Attr{Key: "count", Value: fmt.Sprint(count)})
	if count < int64(rp.MinCohort) {
		return end(ctx, q, pb.ResearchQuery_STATUS_REFUSED, EventRefused,
			fmt.Sprintf("cohort too small: the count is %d, the alliance releases %d or more", count, rp.MinCohort))
	}
	q.PlainResult = sum
	setStatus(ctx, q, pb.ResearchQuery_STATUS_RELEASED)
	if err := ctx.Store.Delete(activeKey(q.Id)); err != nil {
		return err
	}
	ctx.Emit(EventReleased,
		contracts.Attr{Key: "id", Value: itoa(q.Id), Index: true},
		contracts.Attr{Key: "plaintext", Value: "true"})
	return nil
}

// addInt64 returns a + b, and false if that overflows int64.
func addInt64(a, b int64) (int64, bool) {
	s := a + b
	if (a > 0 && b > 0 && s < 0) || (a < 0 && b < 0 && s >= 0) {
		return 0, false
	}
	return s, true
}
