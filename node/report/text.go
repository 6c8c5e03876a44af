package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// num writes a float with ten significant digits.
func num(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }

// WriteText prints r as tables, one per statistic.
func WriteText(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	p("query %d, released at height %d\n%s\n", r.Query, r.ReleasedHeight, r.Text)
	who := make([]string, len(r.Contributors))
	for i, m := range r.Contributors {
		who[i] = strconv.FormatUint(m, 10)
		if i < len(r.Hospitals) && r.Hospitals[i] != "" {
			who[i] = r.Hospitals[i] + " (" + who[i] + ")"
		}
	}
	p("contributors: %s; noised cohort count %d\nnoise: %s\n", strings.Join(who, ", "), r.NoisedCount, r.Noise)
	for _, s := range r.Statistics {
		p("\n%s", s.Statistic)
		if s.Unit != "" {
			p("  [%s]", s.Unit)
		}
		p("\n")
		writeStatistic(p, &s)
		for _, n := range s.Notes {
			p("  note: %s\n", n)
		}
		if len(s.Figures) > 0 && s.Figures[0].Sigma != nil {
			p("  figure\ttotal\tσ of the noise\n")
			for _, f := range s.Figures {
				p("  %s\t%d\t%s\n", f.Name, f.Value, num(*f.Sigma))
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return tw.Flush()
}

func writeStatistic(p func(string, ...any), s *Statistic) {
	opt := func(name string, v *float64) {
		if v != nil {
			p("  %s\t%s\n", name, num(*v))
		}
	}
	switch s.Kind {
	case "count", "sum", "mean", "variance", "stddev":
		if s.N != nil {
			p("  n\t%d\n", *s.N)
		}
		if s.Kind != "count" {
			opt("sum", s.Sum)
			opt("mean", s.Mean)
			opt("variance", s.Variance)
			opt("stddev", s.Stddev)
		}
	case "histogram":
		p("  from\tto\tcount\n")
		for _, b := range s.Histogram {
			p("  %s\t%s\t%d\n", num(b.From), num(b.To), b.Count)
		}
	case "survival":
		p("  days\tat risk\tevents\tcensored\tS\n")
		for _, b := range s.Survival {
			days := fmt.Sprintf("%d–%d", b.FromDay, b.ToDay)
			if b.FromDay == b.ToDay {
				days = fmt.Sprintf("%d (horizon)", b.FromDay)
			}
			p("  %s\t%d\t%d\t%d\t%.6f\n", days, b.AtRisk, b.Events, b.Censored, b.S)
		}
	case "linreg":
		l := s.Linreg
		p("  n\t%d\n", l.N)
		if l.Singular {
			p("  singular\t\n")
			return
		}
		for _, c := range l.Coefficients {
			p("  %s\t%s\t%s\n", c.Name, num(c.Value), c.Unit)
		}
		opt("R²", l.R2)
	}
}
