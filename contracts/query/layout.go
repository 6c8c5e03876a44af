package query

import (
	"fmt"

	"github.com/medchain/medchain/contracts/pb"
)

// WideBase is the base of a wide figure's two slots: a hospital writes its
// sum S as hi·WideBase + lo with 0 ≤ lo < WideBase (lo in the first slot),
// and the researcher recombines the alliance's sums exactly.
const WideBase = int64(1) << 32

// Figure is one additive integer of a statistic: a sum over the selected
// patients of a per-patient term whose magnitude is at most Bound.
type Figure struct {
	Name  string // e.g. "n", "sum", "sum_sq", "bin[3]", "xtx[1][2]"
	Bound int64  // per-patient |term|
	// Slot is the figure's first slot; Wide figures take Slot and Slot+1.
	Slot int
	Wide bool
}

// Block is the figures of one statistic, in order.
type Block struct {
	Statistic *pb.Statistic
	Figures   []Figure
}

// Plan is how a query's figures are packed into one vector.
type Plan struct {
	Blocks []Block
	Slots  int // slots used, wide figures counting two
}

// Layout returns the packing plan of q's statistics under lim. It is the
// contract between the hospitals that fill vectors and the researcher who
// reads the sum: both call it on the same canonical query.
//
// Figures per statistic:
//
//	count()               n
//	sum(f), mean(f)       n, sum             (n: patients with a value of f)
//	variance(f), stddev(f) n, sum, sum_sq
//	histogram(f; edges)   bin[i] for each of len(edges)−1 bins
//	survival(C; b, h)     at_risk[k], events[k], censored[k] for k = 0 … ⌊h/b⌋
//	linreg(y ~ x1..xp)    xtx[i][j] (i ≤ j, x0 = 1), xty[i], yty
//
// A figure whose alliance total could exceed lim.SlotBound (its bound times
// lim.MaxPatients) is wide.
func Layout(q *pb.Query, lim Limits) (*Plan, error) {
	p := &Plan{}
	for i, s := range q.GetStatistics() {
		b := Block{Statistic: s}
		add := func(name string, bound int64) error {
			total, ok := mulBound(bound, lim.MaxPatients)
			if !ok {
				return invalid("statistic %d: %s overflows 64 bits over %d patients", i+1, name, lim.MaxPatients)
			}
			f := Figure{Name: name, Bound: bound, Slot: p.Slots, Wide: total > lim.SlotBound}
			if f.Wide && total/WideBase > lim.SlotBound {
				return invalid("statistic %d: %s is too large even in two slots", i+1, name)
			}
			p.Slots++
			if f.Wide {
				p.Slots++
			}
			b.Figures = append(b.Figures, f)
			return nil
		}
		var err error
		switch k := s.GetKind().(type) {
		case *pb.Statistic_Count:
			err = add("n", 1)
		case *pb.Statistic_Sum, *pb.Statistic_Mean:
			f := fieldOf(s)
			if err = add("n", 1); err == nil {
				err = add("sum", fields[f].Max)
			}
		case *pb.Statistic_Variance, *pb.Statistic_Stddev:
			m := fields[fieldOf(s)].Max
			if err = add("n", 1); err == nil {
				if err = add("sum", m); err == nil {
					err = add("sum_sq", m*m)
				}
			}
		case *pb.Statistic_Histogram:
			for j := 1; j < len(k.Histogram.Edges) && err == nil; j++ {
				err = add(fmt.Sprintf("bin[%d]", j-1), 1)
			}
		case *pb.Statistic_Survival:
			for j := 0; j < survivalBins(k.Survival) && err == nil; j++ {
				for _, n := range []string{"at_risk", "events", "censored"} {
					if err == nil {
						err = add(fmt.Sprintf("%s[%d]", n, j), 1)
					}
				}
			}
		case *pb.Statistic_Linreg:
			xs := append([]int64{1}, linregMax(k.Linreg.X)...)
			for a := range xs {
				for c := a; c < len(xs) && err == nil; c++ {
					err = add(fmt.Sprintf("xtx[%d][%d]", a, c), xs[a]*xs[c])
				}
			}
			my := fields[k.Linreg.Y].Max
			for a := range xs {
				if err == nil {
					err = add(fmt.Sprintf("xty[%d]", a), xs[a]*my)
				}
			}
			if err == nil {
				err = add("yty", my*my)
			}
		default:
			err = invalid("statistic %d has no kind", i+1)
		}
		if err != nil {
			return nil, err
		}
		p.Blocks = append(p.Blocks, b)
	}
	return p, nil
}

func linregMax(xs []pb.Field) []int64 {
	out := make([]int64, len(xs))
	for i, x := range xs {
		out[i] = fields[x].Max
	}
	return out
}

// fieldOf returns the field of a sum, mean, variance or stddev.
func fieldOf(s *pb.Statistic) pb.Field {
	switch k := s.GetKind().(type) {
	case *pb.Statistic_Sum:
		return k.Sum.Field
	case *pb.Statistic_Mean:
		return k.Mean.Field
	case *pb.Statistic_Variance:
		return k.Variance.Field
	case *pb.Statistic_Stddev:
		return k.Stddev.Field
	}
	return 0
}

// Split writes a hospital's sum of one figure into its slot(s) of v.
func (f Figure) Split(v []int64, sum int64) {
	if !f.Wide {
		v[f.Slot] = sum
		return
	}
	hi, lo := sum/WideBase, sum%WideBase
	if lo < 0 {
		hi, lo = hi-1, lo+WideBase
	}
	v[f.Slot], v[f.Slot+1] = lo, hi
}

// Join reads a figure's alliance total back from a decrypted sum vector.
// It fails if the total does not fit 64 bits (it cannot, for a valid
// query under its limits).
func (f Figure) Join(v []int64) (int64, error) {
	if !f.Wide {
		return v[f.Slot], nil
	}
	hi, ok := mulBound(abs(v[f.Slot+1]), WideBase)
	if !ok {
		return 0, fmt.Errorf("figure %s overflows", f.Name)
	}
	if v[f.Slot+1] < 0 {
		hi = -hi
	}
	return hi + v[f.Slot], nil
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
