package report

import (
	"fmt"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
	"github.com/medchain/medchain/contracts/research"
)

// Report is a released query's result: every statistic in natural units,
// with the integer figures it came from.
type Report struct {
	Query      uint64 `json:"query"`
	Researcher string `json:"researcher"`
	// Text is the canonical query, with the AS OF date the contract fixed.
	Text           string   `json:"text"`
	ReleasedHeight int64    `json:"released_height"`
	Contributors   []uint64 `json:"contributors"`
	// Hospitals are the contributors' hospital ids, when the caller knows
	// them (from "/hospitals").
	Hospitals   []string `json:"hospitals,omitempty"`
	NoisedCount int64    `json:"noised_cohort_count"`
	DPOff       bool     `json:"dp_off"`
	RhoMicro    uint64   `json:"rho_micro"`
	// Noise says what noise the values carry.
	Noise      string      `json:"noise"`
	Statistics []Statistic `json:"statistics"`
}

// Statistic is one statistic of the query. Which of the optional fields
// are set depends on Kind; a value that cannot be computed (a mean of no
// patient, a singular regression) is absent and Notes says why.
type Statistic struct {
	Statistic string `json:"statistic"` // e.g. "mean(hba1c)"
	Kind      string `json:"kind"`      // count, sum, mean, variance, stddev, histogram, survival, linreg
	Field     string `json:"field,omitempty"`
	Unit      string `json:"unit,omitempty"`
	// Scale is the field's fixed-point scale: figures hold value × Scale.
	Scale   int64    `json:"scale,omitempty"`
	Figures []Figure `json:"figures"`

	N         *int64        `json:"n,omitempty"`
	Sum       *float64      `json:"sum,omitempty"`
	Mean      *float64      `json:"mean,omitempty"`
	Variance  *float64      `json:"variance,omitempty"` // sample variance (n − 1), in unit²
	Stddev    *float64      `json:"stddev,omitempty"`
	Histogram []Bin         `json:"histogram,omitempty"`
	Survival  []SurvivalBin `json:"survival,omitempty"`
	Linreg    *LinearFit    `json:"linreg,omitempty"`
	Notes     []string      `json:"notes,omitempty"`
}

// Figure is one additive integer of a statistic: the alliance's total
// (the sum of every contributor's figure, plus noise when DP is on).
type Figure struct {
	Name  string `json:"name"`
	Value int64  `json:"value"`
	Wide  bool   `json:"wide,omitempty"` // carried in two slots
	// Sigma is the standard deviation of the DP noise in Value, when known.
	Sigma *float64 `json:"sigma,omitempty"`
}

// Bin is one histogram bin: the patients with From ≤ value < To.
type Bin struct {
	From  float64 `json:"from"`
	To    float64 `json:"to"`
	Count int64   `json:"count"`
}

// SurvivalBin is one time bin of a Kaplan–Meier table: days
// [FromDay, ToDay) after onset, and S, the survival at the bin's end.
type SurvivalBin struct {
	FromDay  uint32  `json:"from_day"`
	ToDay    uint32  `json:"to_day"`
	AtRisk   int64   `json:"at_risk"`
	Events   int64   `json:"events"`
	Censored int64   `json:"censored"`
	S        float64 `json:"survival"`
}

// LinearFit is an ordinary least-squares fit y ~ 1 + x1 + … + xp.
type LinearFit struct {
	Y        string `json:"y"`
	N        int64  `json:"n"`
	Singular bool   `json:"singular"`
	// Coefficients: the intercept first (in y's unit), then one per
	// predictor (y's unit per predictor's unit). Absent when singular.
	Coefficients []Coefficient `json:"coefficients,omitempty"`
	R2           *float64      `json:"r2,omitempty"`
}

// Coefficient is one β of a LinearFit.
type Coefficient struct {
	Name  string  `json:"name"` // "intercept" or the predictor's field
	Unit  string  `json:"unit"`
	Value float64 `json:"value"`
}

// NoiseSigma gives, for a query released with DP on, the standard
// deviation of the noise in each figure's alliance total, in the figure's
// integer units: one slice per block of plan, one value per figure. It is
// node/dp's description of the noise; nil means not known.
type NoiseSigma func(rq *pb.ResearchQuery, plan *query.Plan) ([][]float64, error)

// units are the natural units of the fields.
var units = map[pb.Field]string{
	pb.Field_FIELD_AGE: "years", pb.Field_FIELD_HBA1C: "%", pb.Field_FIELD_BMI: "kg/m2", pb.Field_FIELD_SBP: "mmHg",
}

// Build makes the report of the released query rq from vals, its result
// decrypted with the researcher's key (he.Params.Decrypt), laid out under
// the alliance's limits lim (Limits) with the query's own bound on persons
// (research.QueryLimits). sigma, if not nil, describes the DP
// noise of each figure. Build is pure.
func Build(rq *pb.ResearchQuery, lim query.Limits, vals []int64, sigma NoiseSigma) (*Report, error) {
	lim = research.QueryLimits(lim, rq)
	plan, err := query.Layout(rq.GetQuery(), lim)
	if err != nil {
		return nil, fmt.Errorf("query %d: %w", rq.GetId(), err)
	}
	if len(vals) < plan.Slots {
		return nil, fmt.Errorf("query %d: the decrypted result has %d slots, its layout needs %d", rq.GetId(), len(vals), plan.Slots)
	}
	r := &Report{
		Query: rq.Id, Researcher: rq.Researcher, Text: query.Format(rq.Query), ReleasedHeight: rq.StatusHeight,
		Contributors: rq.Contributors, NoisedCount: rq.NoisedCount, DPOff: rq.DpOff, RhoMicro: rq.RhoMicro,
	}
	var sigmas [][]float64
	switch {
	case rq.DpOff:
		r.Noise = "none: this alliance runs without differential privacy (test mode); the values are exact"
	case sigma == nil:
		r.Noise = fmt.Sprintf("differential privacy (zCDP ρ = %s): every value carries noise; its σ per figure is not reported by this build", FormatMicro(rq.RhoMicro))
	default:
		if sigmas, err = sigma(rq, plan); err != nil {
			return nil, fmt.Errorf("query %d: the noise of its figures: %w", rq.Id, err)
		}
		if len(sigmas) != len(plan.Blocks) {
			return nil, fmt.Errorf("query %d: the noise description has %d blocks, the layout %d", rq.Id, len(sigmas), len(plan.Blocks))
		}
		r.Noise = fmt.Sprintf("differential privacy (zCDP ρ = %s): every value carries noise; each figure's σ is given", FormatMicro(rq.RhoMicro))
	}
	for i, b := range plan.Blocks {
		totals := make([]int64, len(b.Figures))
		figs := make([]Figure, len(b.Figures))
		for j, f := range b.Figures {
			if totals[j], err = f.Join(vals); err != nil {
				return nil, fmt.Errorf("query %d, %s: %w", rq.Id, query.FormatStatistic(b.Statistic), err)
			}
			figs[j] = Figure{Name: f.Name, Value: totals[j], Wide: f.Wide}
			if sigmas != nil {
				if len(sigmas[i]) != len(b.Figures) {
					return nil, fmt.Errorf("query %d: the noise description of %s has %d figures, the layout %d", rq.Id, query.FormatStatistic(b.Statistic), len(sigmas[i]), len(b.Figures))
				}
				s := sigmas[i][j]
				figs[j].Sigma = &s
			}
		}
		s, err := statistic(b.Statistic, totals)
		if err != nil {
			return nil, fmt.Errorf("query %d, %s: %w", rq.Id, query.FormatStatistic(b.Statistic), err)
		}
		s.Figures = figs
		r.Statistics = append(r.Statistics, *s)
	}
	return r, nil
}

// statistic computes one statistic from its figures' totals, in the order
// query.Layout gives them.
func statistic(st *pb.Statistic, t []int64) (*Statistic, error) {
	s := &Statistic{Statistic: query.FormatStatistic(st)}
	want := func(n int) error {
		if len(t) != n {
			return fmt.Errorf("%d figures, want %d", len(t), n)
		}
		return nil
	}
	field := func(f pb.Field) {
		s.Field, s.Unit, s.Scale = query.FieldName(f), units[f], query.Scale(f)
	}
	switch k := st.GetKind().(type) {
	case *pb.Statistic_Count:
		s.Kind = "count"
		if err := want(1); err != nil {
			return nil, err
		}
		s.N = &t[0]
	case *pb.Statistic_Sum:
		s.Kind = "sum"
		field(k.Sum.Field)
		if err := want(2); err != nil {
			return nil, err
		}
		moments(s, t[0], t[1], nil)
	case *pb.Statistic_Mean:
		s.Kind = "mean"
		field(k.Mean.Field)
		if err := want(2); err != nil {
			return nil, err
		}
		moments(s, t[0], t[1], nil)
	case *pb.Statistic_Variance, *pb.Statistic_Stddev:
		s.Kind = "variance"
		f := k
		if v, ok := f.(*pb.Statistic_Variance); ok {
			field(v.Variance.Field)
		} else {
			s.Kind = "stddev"
			field(f.(*pb.Statistic_Stddev).Stddev.Field)
		}
		if err := want(3); err != nil {
			return nil, err
		}
		moments(s, t[0], t[1], &t[2])
	case *pb.Statistic_Histogram:
		s.Kind = "histogram"
		h := k.Histogram
		field(h.Field)
		if err := want(len(h.Edges) - 1); err != nil {
			return nil, err
		}
		s.Histogram = histogram(h.Edges, s.Scale, t)
	case *pb.Statistic_Survival:
		s.Kind = "survival"
		n := int(k.Survival.HorizonDays/k.Survival.BinDays) + 1
		if err := want(3 * n); err != nil {
			return nil, err
		}
		var clipped bool
		s.Survival, clipped = kaplanMeier(k.Survival, t)
		if clipped {
			s.Notes = append(s.Notes, "some bins have more events than patients at risk, or none at risk (noise): their factor is clipped to [0, 1]")
		}
	case *pb.Statistic_Linreg:
		s.Kind = "linreg"
		l := k.Linreg
		p := len(l.X) + 1
		if err := want(p*(p+1)/2 + p + 1); err != nil {
			return nil, err
		}
		fit, note := linearFit(l, t)
		s.Linreg, s.Unit = fit, units[l.Y]
		if note != "" {
			s.Notes = append(s.Notes, note)
		}
	default:
		return nil, fmt.Errorf("a statistic of no known kind")
	}
	return s, nil
}
