package query

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/medchain/medchain/contracts/pb"
)

// Format returns q's canonical text: Parse(Format(q)) equals q for every
// valid q.
func Format(q *pb.Query) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, s := range q.GetStatistics() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(FormatStatistic(s))
	}
	if q.GetWhere() != nil {
		b.WriteString(" WHERE ")
		b.WriteString(formatFilter(q.Where, false))
	}
	if q.GetRefDate() != 0 {
		b.WriteString(" AS OF '" + formatDate(q.RefDate) + "'")
	}
	return b.String()
}

// FormatStatistic returns one statistic's text, e.g. "mean(hba1c)".
func FormatStatistic(s *pb.Statistic) string {
	switch k := s.GetKind().(type) {
	case *pb.Statistic_Count:
		return "count()"
	case *pb.Statistic_Sum:
		return "sum(" + FieldName(k.Sum.Field) + ")"
	case *pb.Statistic_Mean:
		return "mean(" + FieldName(k.Mean.Field) + ")"
	case *pb.Statistic_Variance:
		return "variance(" + FieldName(k.Variance.Field) + ")"
	case *pb.Statistic_Stddev:
		return "stddev(" + FieldName(k.Stddev.Field) + ")"
	case *pb.Statistic_Histogram:
		edges := make([]string, len(k.Histogram.Edges))
		for i, e := range k.Histogram.Edges {
			edges[i] = formatValue(k.Histogram.Field, e)
		}
		return "histogram(" + FieldName(k.Histogram.Field) + "; " + strings.Join(edges, ", ") + ")"
	case *pb.Statistic_Survival:
		return fmt.Sprintf("survival(%s; %d, %d)", k.Survival.Condition, k.Survival.BinDays, k.Survival.HorizonDays)
	case *pb.Statistic_Linreg:
		xs := make([]string, len(k.Linreg.X))
		for i, x := range k.Linreg.X {
			xs[i] = FieldName(x)
		}
		return "linreg(" + FieldName(k.Linreg.Y) + " ~ " + strings.Join(xs, " + ") + ")"
	}
	return "?"
}

// formatFilter writes f; inAnd says f is an item of an AND (an OR there
// needs parentheses).
func formatFilter(f *pb.Filter, inAnd bool) string {
	switch n := f.GetNode().(type) {
	case *pb.Filter_And:
		parts := make([]string, len(n.And.Items))
		for i, it := range n.And.Items {
			parts[i] = formatFilter(it, true)
		}
		return strings.Join(parts, " AND ")
	case *pb.Filter_Or:
		parts := make([]string, len(n.Or.Items))
		for i, it := range n.Or.Items {
			parts[i] = formatFilter(it, false)
		}
		s := strings.Join(parts, " OR ")
		if inAnd {
			return "(" + s + ")"
		}
		return s
	case *pb.Filter_Not:
		inner := formatFilter(n.Not, false)
		switch n.Not.GetNode().(type) {
		case *pb.Filter_And, *pb.Filter_Or:
			inner = "(" + inner + ")"
		}
		return "NOT " + inner
	case *pb.Filter_Condition:
		return "condition = '" + n.Condition + "'"
	case *pb.Filter_Compare:
		return FieldName(n.Compare.Field) + " " + opNames[n.Compare.Op] + " " + formatValue(n.Compare.Field, n.Compare.Value)
	case *pb.Filter_Sex:
		return "sex = '" + sexNames[n.Sex] + "'"
	case *pb.Filter_EncounterClass:
		return "encounter = '" + n.EncounterClass + "'"
	case *pb.Filter_Seen:
		return "seen BETWEEN '" + formatDate(n.Seen.From) + "' AND '" + formatDate(n.Seen.To) + "'"
	}
	return "?"
}

// formatValue writes a scaled value in the field's unit ("7.5").
func formatValue(f pb.Field, v int64) string {
	scale := fields[f].Scale
	if scale <= 1 {
		return strconv.FormatInt(v, 10)
	}
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	digits := len(strconv.FormatInt(scale, 10)) - 1
	frac := fmt.Sprintf("%0*d", digits, v%scale)
	frac = strings.TrimRight(frac, "0")
	if frac == "" {
		return sign + strconv.FormatInt(v/scale, 10)
	}
	return sign + strconv.FormatInt(v/scale, 10) + "." + frac
}

func formatDate(d uint32) string {
	return fmt.Sprintf("%04d-%02d-%02d", d/10000, d/100%100, d%100)
}
