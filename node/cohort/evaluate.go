package cohort

import (
	"errors"
	"fmt"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
)

// ErrQuery wraps Evaluate's refusals of a query or of its arguments.
var ErrQuery = errors.New("cohort: cannot evaluate")

// Evaluate returns a hospital's packed vector for q: query.Layout(q, lim)'s
// Slots int64s holding, for every figure of q's statistics, its sum over the
// patients of t for whom include(pseudonym) is true and q.Where holds (wide
// figures split with Figure.Split). include carries what is decided
// elsewhere — research consent at the query's height, and which member
// contributes a person seen at several hospitals — and is required.
//
// Semantics (node/synth/TRUTH.md; the filters as documented on pb.Filter):
//
//   - values: age in completed years at q.RefDate (unknown when the birth
//     date is absent or after it); hba1c, bmi, sbp the latest Observation
//     of their LOINC code by effectiveDateTime instant, ties by greatest id,
//     scaled by query.Scale and rounded to the nearest integer. A
//     comparison on a missing value is false.
//   - count: the patients selected. sum, mean, variance, stddev: n, Σv and
//     Σv² over the selected patients with a value, each v clipped to the
//     field's bound (the Bound of its "sum" figure) so that no sum leaves
//     the range query.Layout proved; real data beyond it is implausible.
//   - histogram: bin i counts edges[i] ≤ v < edges[i+1] (unclipped).
//   - survival(C; b, h): patients with condition C (the code or a code
//     starting with it and a dot) and an onset; onset is the earliest such
//     onset date; t is death − onset (an event) if the death date is on or
//     before RefDate, else RefDate − onset (censored); t < 0 leaves the
//     patient out; t ≥ h is censored at h and counted in no censored bin.
//     at_risk[k] counts t ≥ b·k, events[k] and censored[k] count ⌊t/b⌋ = k.
//   - linreg(y ~ x1…xp): over patients with y and every x, x0 = 1:
//     xtx[i][j] = Σ xi·xj (i ≤ j), xty[i] = Σ xi·y, yty = Σ y², clipped
//     values.
//
// q must pass query.Validate under lim and carry its ref_date (the contract
// always sets it; 0 is refused). Evaluate reads t and never changes it.
func Evaluate(t *Table, q *pb.Query, lim query.Limits, include func(pseudonym string) bool) ([]int64, error) {
	switch {
	case t == nil:
		return nil, fmt.Errorf("%w: no table", ErrQuery)
	case include == nil:
		return nil, fmt.Errorf("%w: no include function: consent and de-duplication decide who counts, pass them", ErrQuery)
	}
	if err := query.Validate(q, lim); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrQuery, err)
	}
	if q.RefDate == 0 {
		return nil, fmt.Errorf("%w: the query has no ref_date: evaluate the query as the contract stored it (it sets ref_date)", ErrQuery)
	}
	plan, err := query.Layout(q, lim)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrQuery, err)
	}
	bounds, err := fieldBounds(lim)
	if err != nil {
		return nil, err
	}
	rows := make([]row, 0, len(t.patients))
	for _, p := range t.patients {
		if !include(p.Pseudonym) {
			continue
		}
		r := rowOf(p, q.RefDate, bounds)
		if q.Where == nil || r.matches(q.Where) {
			rows = append(rows, r)
		}
	}
	if int64(len(rows)) > lim.MaxPatients {
		return nil, fmt.Errorf("%w: %d patients selected, more than the alliance's limit of %d persons the layout is proven for", ErrQuery, len(rows), lim.MaxPatients)
	}
	v := make([]int64, plan.Slots)
	for i, b := range plan.Blocks {
		sums := figuresOf(b.Statistic, rows, q.RefDate)
		for _, f := range b.Figures {
			s, ok := sums[f.Name]
			if !ok {
				// The layout names a figure this evaluator does not compute:
				// contracts/query changed without node/cohort.
				return nil, fmt.Errorf("%w: statistic %d: figure %s is unknown to this evaluator", ErrQuery, i+1, f.Name)
			}
			f.Split(v, s)
		}
	}
	return v, nil
}

// fieldBounds are the per-patient bounds |v| ≤ bound of each field's
// values, as query.Layout uses them (the Bound of a sum's "sum" figure).
func fieldBounds(lim query.Limits) ([numFields]int64, error) {
	var out [numFields]int64
	for f := pb.Field_FIELD_AGE; int(f) < numFields; f++ {
		q := &pb.Query{Statistics: []*pb.Statistic{{Kind: &pb.Statistic_Sum{Sum: &pb.FieldStat{Field: f}}}}}
		p, err := query.Layout(q, lim)
		if err != nil {
			return out, fmt.Errorf("%w: %w", ErrQuery, err)
		}
		out[f] = p.Blocks[0].Figures[1].Bound
	}
	return out, nil
}

// row is a patient's values at the query's reference date.
type row struct {
	f       *Facts
	has     [numFields]bool
	raw     [numFields]int64 // for filters and histograms
	clipped [numFields]int64 // for sums
}

func rowOf(f *Facts, ref uint32, bounds [numFields]int64) row {
	r := row{f: f}
	for i := pb.Field_FIELD_AGE; int(i) < numFields; i++ {
		v, ok := f.Value(i, ref)
		r.has[i], r.raw[i], r.clipped[i] = ok, v, max(-bounds[i], min(bounds[i], v))
	}
	return r
}

func (r *row) matches(w *pb.Filter) bool {
	switch n := w.GetNode().(type) {
	case *pb.Filter_And:
		for _, it := range n.And.GetItems() {
			if !r.matches(it) {
				return false
			}
		}
		return true
	case *pb.Filter_Or:
		for _, it := range n.Or.GetItems() {
			if r.matches(it) {
				return true
			}
		}
		return false
	case *pb.Filter_Not:
		return !r.matches(n.Not)
	case *pb.Filter_Condition:
		return r.f.HasCondition(n.Condition)
	case *pb.Filter_Compare:
		c := n.Compare
		f := c.GetField()
		if f <= 0 || int(f) >= numFields || !r.has[f] {
			return false
		}
		return compare(r.raw[f], c.GetOp(), c.GetValue())
	case *pb.Filter_Sex:
		return r.f.Sex != pb.Sex_SEX_UNSPECIFIED && r.f.Sex == n.Sex
	case *pb.Filter_EncounterClass:
		for _, e := range r.f.Encounters {
			if e.Class == n.EncounterClass {
				return true
			}
		}
		return false
	case *pb.Filter_Seen:
		for _, e := range r.f.Encounters {
			if e.Date >= n.Seen.GetFrom() && e.Date <= n.Seen.GetTo() {
				return true
			}
		}
		return false
	}
	return false // Validate admits no other node
}

func compare(v int64, op pb.CmpOp, x int64) bool {
	switch op {
	case pb.CmpOp_CMP_LT:
		return v < x
	case pb.CmpOp_CMP_LE:
		return v <= x
	case pb.CmpOp_CMP_GT:
		return v > x
	case pb.CmpOp_CMP_GE:
		return v >= x
	case pb.CmpOp_CMP_EQ:
		return v == x
	case pb.CmpOp_CMP_NE:
		return v != x
	}
	return false
}

// figuresOf computes the sums of one statistic's figures over rows, by
// the figure names of query.Layout.
func figuresOf(s *pb.Statistic, rows []row, ref uint32) map[string]int64 {
	out := map[string]int64{}
	switch k := s.GetKind().(type) {
	case *pb.Statistic_Count:
		out["n"] = int64(len(rows))
	case *pb.Statistic_Sum:
		moments(out, rows, k.Sum.Field)
	case *pb.Statistic_Mean:
		moments(out, rows, k.Mean.Field)
	case *pb.Statistic_Variance:
		moments(out, rows, k.Variance.Field)
	case *pb.Statistic_Stddev:
		moments(out, rows, k.Stddev.Field)
	case *pb.Statistic_Histogram:
		histogram(out, rows, k.Histogram)
	case *pb.Statistic_Survival:
		survival(out, rows, k.Survival, ref)
	case *pb.Statistic_Linreg:
		linreg(out, rows, k.Linreg)
	}
	return out
}

func moments(out map[string]int64, rows []row, f pb.Field) {
	var n, sum, sq int64
	for i := range rows {
		if r := &rows[i]; r.has[f] {
			v := r.clipped[f]
			n, sum, sq = n+1, sum+v, sq+v*v
		}
	}
	out["n"], out["sum"], out["sum_sq"] = n, sum, sq
}

func histogram(out map[string]int64, rows []row, h *pb.Histogram) {
	counts := make([]int64, len(h.Edges)-1)
	for i := range rows {
		r := &rows[i]
		if !r.has[h.Field] {
			continue
		}
		v := r.raw[h.Field]
		for j := range counts {
			if h.Edges[j] <= v && v < h.Edges[j+1] {
				counts[j]++
				break
			}
		}
	}
	for j, c := range counts {
		out[fmt.Sprintf("bin[%d]", j)] = c
	}
}

func survival(out map[string]int64, rows []row, s *pb.Survival, ref uint32) {
	width, horizon := int64(s.BinDays), int64(s.HorizonDays)
	bins := int(horizon/width) + 1
	atRisk, events, censored := make([]int64, bins), make([]int64, bins), make([]int64, bins)
	for i := range rows {
		f := rows[i].f
		var onset uint32
		for _, c := range f.Conditions {
			if c.Onset != 0 && (onset == 0 || c.Onset < onset) && c.matches(s.Condition) {
				onset = c.Onset
			}
		}
		if onset == 0 {
			continue
		}
		end, event := ref, false
		if f.DeathDate != 0 && f.DeathDate <= ref {
			end, event = f.DeathDate, true
		}
		t := dayNumber(end) - dayNumber(onset)
		if t < 0 {
			continue
		}
		if t >= horizon {
			t, event = horizon, false
		}
		for k := 0; k < bins && int64(k)*width <= t; k++ {
			atRisk[k]++
		}
		if t < horizon {
			if event {
				events[t/width]++
			} else {
				censored[t/width]++
			}
		}
	}
	for k := range bins {
		out[fmt.Sprintf("at_risk[%d]", k)] = atRisk[k]
		out[fmt.Sprintf("events[%d]", k)] = events[k]
		out[fmt.Sprintf("censored[%d]", k)] = censored[k]
	}
}

func linreg(out map[string]int64, rows []row, l *pb.Linreg) {
	p := len(l.X) + 1
	xtx := make([]int64, p*p)
	xty := make([]int64, p)
	var yty int64
	x := make([]int64, p)
	x[0] = 1
next:
	for i := range rows {
		r := &rows[i]
		if !r.has[l.Y] {
			continue
		}
		for j, f := range l.X {
			if !r.has[f] {
				continue next
			}
			x[j+1] = r.clipped[f]
		}
		y := r.clipped[l.Y]
		for a := range p {
			for c := a; c < p; c++ {
				xtx[a*p+c] += x[a] * x[c]
			}
			xty[a] += x[a] * y
		}
		yty += y * y
	}
	for a := range p {
		for c := a; c < p; c++ {
			out[fmt.Sprintf("xtx[%d][%d]", a, c)] = xtx[a*p+c]
		}
		out[fmt.Sprintf("xty[%d]", a)] = xty[a]
	}
	out["yty"] = yty
}
