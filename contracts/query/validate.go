package query

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts/pb"
)

// Limits of the language. The contract validates with the alliance's.
const (
	MaxStatistics    = 16
	MaxHistogramBins = 64
	MaxLinregX       = 8
	MaxSurvivalBins  = 512
	MaxFilterDepth   = 12
	MaxFilterNodes   = 64
)

// Limits are the parameters Validate and Layout depend on.
type Limits struct {
	// MaxSlots is how many slots one packed vector has (the HE parameters'
	// slot count).
	MaxSlots int
	// SlotBound is the largest |sum| one slot may carry over the whole
	// alliance and stay exact (the HE plaintext range).
	SlotBound int64
	// MaxPatients bounds the persons of the alliance; with the per-patient
	// bound of each figure it decides which figures need two slots.
	MaxPatients int64
}

// DefaultLimits fit the pinned HE parameters (8192 slots, exact to ±2^40)
// and up to 2^24 persons.
var DefaultLimits = Limits{MaxSlots: 8192, SlotBound: 1 << 40, MaxPatients: 1 << 24}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Validate checks that q is canonical and answerable under lim: known
// fields and statistics, sane bins, filters within their limits, and a
// layout that fits one vector. Its errors say what to change.
func Validate(q *pb.Query, lim Limits) error {
	if q == nil {
		return invalid("no query")
	}
	switch n := len(q.Statistics); {
	case n == 0:
		return invalid("no statistic: ask for at least one, e.g. SELECT count()")
	case n > MaxStatistics:
		return invalid("%d statistics, at most %d: split the query", n, MaxStatistics)
	}
	for i, s := range q.Statistics {
		if err := validateStatistic(s); err != nil {
			return invalid("statistic %d: %v", i+1, err)
		}
		for j := range i {
			if proto.Equal(q.Statistics[j], s) {
				return invalid("statistic %d repeats statistic %d", i+1, j+1)
			}
		}
	}
	if q.Where != nil {
		nodes := 0
		if err := validateFilter(q.Where, 1, &nodes); err != nil {
			return invalid("WHERE: %v", err)
		}
	}
	if q.RefDate != 0 && !validDate(q.RefDate) {
		return invalid("AS OF %d is not a date", q.RefDate)
	}
	l, err := Layout(q, lim)
	if err != nil {
		return err
	}
	if l.Slots > lim.MaxSlots {
		return invalid("the statistics need %d slots, one vector has %d: ask for fewer bins or statistics", l.Slots, lim.MaxSlots)
	}
	return nil
}

func checkField(f pb.Field) error {
	if _, ok := fields[f]; !ok {
		return fmt.Errorf("unknown field %d: use age, hba1c, bmi or sbp", f)
	}
	return nil
}

func validateStatistic(s *pb.Statistic) error {
	switch k := s.GetKind().(type) {
	case *pb.Statistic_Count:
		return nil
	case *pb.Statistic_Sum:
		return checkField(k.Sum.GetField())
	case *pb.Statistic_Mean:
		return checkField(k.Mean.GetField())
	case *pb.Statistic_Variance:
		return checkField(k.Variance.GetField())
	case *pb.Statistic_Stddev:
		return checkField(k.Stddev.GetField())
	case *pb.Statistic_Histogram:
		h := k.Histogram
		if err := checkField(h.GetField()); err != nil {
			return err
		}
		switch n := len(h.GetEdges()); {
		case n < 2:
			return fmt.Errorf("histogram(%s): give at least two edges", FieldName(h.Field))
		case n-1 > MaxHistogramBins:
			return fmt.Errorf("histogram(%s): %d bins, at most %d", FieldName(h.Field), n-1, MaxHistogramBins)
		}
		max := fields[h.Field].Max
		for i, e := range h.Edges {
			if e < -max || e > max {
				return fmt.Errorf("histogram(%s): edge %s is outside ±%s", FieldName(h.Field), formatValue(h.Field, e), formatValue(h.Field, max))
			}
			if i > 0 && e <= h.Edges[i-1] {
				return fmt.Errorf("histogram(%s): edges must be strictly ascending", FieldName(h.Field))
			}
		}
		return nil
	case *pb.Statistic_Survival:
		v := k.Survival
		if err := checkCode(v.GetCondition()); err != nil {
			return fmt.Errorf("survival: %v", err)
		}
		switch {
		case v.BinDays < 1 || v.BinDays > 3660:
			return fmt.Errorf("survival: bin_days %d, use 1 to 3660", v.BinDays)
		case v.HorizonDays < v.BinDays || v.HorizonDays > 36600:
			return fmt.Errorf("survival: horizon_days %d, use bin_days to 36600", v.HorizonDays)
		case survivalBins(v) > MaxSurvivalBins:
			return fmt.Errorf("survival: %d bins, at most %d: widen the bins", survivalBins(v), MaxSurvivalBins)
		}
		return nil
	case *pb.Statistic_Linreg:
		l := k.Linreg
		if err := checkField(l.GetY()); err != nil {
			return fmt.Errorf("linreg: %v", err)
		}
		switch n := len(l.X); {
		case n == 0:
			return fmt.Errorf("linreg(%s ~ ...): give at least one predictor", FieldName(l.Y))
		case n > MaxLinregX:
			return fmt.Errorf("linreg: %d predictors, at most %d", n, MaxLinregX)
		}
		for i, x := range l.X {
			if err := checkField(x); err != nil {
				return fmt.Errorf("linreg: %v", err)
			}
			if x == l.Y || slices.Contains(l.X[:i], x) {
				return fmt.Errorf("linreg: predictor %s is repeated or is the response", FieldName(x))
			}
		}
		return nil
	}
	return fmt.Errorf("no statistic kind")
}

// survivalBins is the number of bins 0 … ⌊horizon/bin⌋.
func survivalBins(v *pb.Survival) int { return int(v.HorizonDays/v.BinDays) + 1 }

// checkCode accepts an ICD-10 category (E11) or code (E11.9, C34.10).
func checkCode(c string) error {
	ok := len(c) >= 3 && c[0] >= 'A' && c[0] <= 'Z' && isDigit(c[1]) && isDigit(c[2])
	if ok && len(c) > 3 {
		sub := c[3:]
		ok = len(sub) >= 2 && len(sub) <= 5 && sub[0] == '.'
		for i := 1; ok && i < len(sub); i++ {
			ok = isDigit(sub[i]) || sub[i] >= 'A' && sub[i] <= 'Z'
		}
	}
	if !ok {
		return fmt.Errorf("condition %q is not an ICD-10 code such as E11 or E11.9", c)
	}
	return nil
}

func validateFilter(f *pb.Filter, depth int, nodes *int) error {
	*nodes++
	switch {
	case depth > MaxFilterDepth:
		return fmt.Errorf("filters nest at most %d deep", MaxFilterDepth)
	case *nodes > MaxFilterNodes:
		return fmt.Errorf("at most %d conditions", MaxFilterNodes)
	}
	switch n := f.GetNode().(type) {
	case *pb.Filter_And, *pb.Filter_Or:
		var items []*pb.Filter
		and := false
		if a, ok := n.(*pb.Filter_And); ok {
			items, and = a.And.GetItems(), true
		} else {
			items = n.(*pb.Filter_Or).Or.GetItems()
		}
		if len(items) < 2 {
			return fmt.Errorf("AND and OR join at least two conditions")
		}
		for _, it := range items {
			if _, nested := it.GetNode().(*pb.Filter_And); nested && and {
				return fmt.Errorf("an AND directly inside an AND is not canonical: flatten it")
			}
			if _, nested := it.GetNode().(*pb.Filter_Or); nested && !and {
				return fmt.Errorf("an OR directly inside an OR is not canonical: flatten it")
			}
			if err := validateFilter(it, depth+1, nodes); err != nil {
				return err
			}
		}
		return nil
	case *pb.Filter_Not:
		if n.Not == nil {
			return fmt.Errorf("NOT of nothing")
		}
		return validateFilter(n.Not, depth+1, nodes)
	case *pb.Filter_Condition:
		return checkCode(n.Condition)
	case *pb.Filter_Compare:
		c := n.Compare
		if err := checkField(c.GetField()); err != nil {
			return err
		}
		if _, ok := opNames[c.Op]; !ok {
			return fmt.Errorf("%s: unknown comparison %d", FieldName(c.Field), c.Op)
		}
		if max := fields[c.Field].Max; c.Value < -max || c.Value > max {
			return fmt.Errorf("%s %s %s is outside ±%s", FieldName(c.Field), opNames[c.Op], formatValue(c.Field, c.Value), formatValue(c.Field, max))
		}
		return nil
	case *pb.Filter_Sex:
		if _, ok := sexNames[n.Sex]; !ok {
			return fmt.Errorf("sex is female, male, other or unknown")
		}
		return nil
	case *pb.Filter_EncounterClass:
		if !slices.Contains(encounterClasses, n.EncounterClass) {
			return fmt.Errorf("encounter class %q: use %s", n.EncounterClass, strings.Join(encounterClasses, ", "))
		}
		return nil
	case *pb.Filter_Seen:
		s := n.Seen
		if !validDate(s.GetFrom()) || !validDate(s.GetTo()) || s.From > s.To {
			return fmt.Errorf("seen BETWEEN needs two dates, the first not after the second")
		}
		return nil
	}
	return fmt.Errorf("an empty condition")
}

// validDate reports whether d (YYYYMMDD) is a calendar date in 1900–2999.
func validDate(d uint32) bool {
	y, m, day := d/10000, d/100%100, d%100
	if y < 1900 || y > 2999 || m < 1 || m > 12 || day < 1 {
		return false
	}
	days := [13]uint32{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m]
	if m == 2 && (y%4 == 0 && y%100 != 0 || y%400 == 0) {
		days = 29
	}
	return day <= days
}

// mulBound returns a·b, or false if it overflows int64.
func mulBound(a, b int64) (int64, bool) {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > 1<<63-1 {
		return 0, false
	}
	return int64(lo), true
}
