package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
)

// released returns a released query of text, as the contract stores it.
func released(t *testing.T, text string, dpOff bool) *pb.ResearchQuery {
	t.Helper()
	q, err := query.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if q.RefDate == 0 {
		q.RefDate = 20250101
	}
	return &pb.ResearchQuery{Id: 7, Researcher: "mc1" + strings.Repeat("ab", 20), Query: q, Status: pb.ResearchQuery_STATUS_RELEASED,
		StatusHeight: 40, Contributors: []uint64{1, 2, 4}, NoisedCount: 120, DpOff: dpOff, RhoMicro: 500_000}
}

// vector packs the alliance totals of every figure (in layout order) the
// way hospitals do, so the sum decrypts to it.
func vector(t *testing.T, rq *pb.ResearchQuery, lim query.Limits, totals []int64) []int64 {
	t.Helper()
	plan, err := query.Layout(rq.Query, lim)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]int64, lim.MaxSlots)
	k := 0
	for _, b := range plan.Blocks {
		for _, f := range b.Figures {
			f.Split(v, totals[k])
			k++
		}
	}
	if k != len(totals) {
		t.Fatalf("the query has %d figures, the test gave %d", k, len(totals))
	}
	return v
}

var testLimits = query.Limits{MaxSlots: 1024, SlotBound: 1 << 40, MaxPatients: 1 << 24}

func build(t *testing.T, text string, totals []int64) *Statistic {
	t.Helper()
	rq := released(t, text, true)
	r, err := Build(rq, testLimits, vector(t, rq, testLimits, totals), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Statistics) != 1 {
		t.Fatalf("%d statistics", len(r.Statistics))
	}
	return &r.Statistics[0]
}

func eq(a *float64, b float64) bool {
	return a != nil && math.Abs(*a-b) <= 1e-12*math.Max(1, math.Abs(b))
}

func TestMoments(t *testing.T) {
	// HbA1c 6.5, 7, 7.5, 7 %: scaled 650, 700, 750, 700.
	const n, sum, sumSq = 4, 2800, 650*650 + 700*700 + 750*750 + 700*700
	tests := []struct {
		name  string
		text  string
		fig   []int64
		check func(s *Statistic) bool
		note  string
	}{
		{"a count is its one figure", "SELECT count()", []int64{42},
			func(s *Statistic) bool { return *s.N == 42 && s.Sum == nil }, ""},
		{"a sum is divided by the field's scale", "SELECT sum(hba1c)", []int64{n, sum},
			func(s *Statistic) bool { return *s.N == n && eq(s.Sum, 28) }, ""},
		{"a mean is the sum over n in natural units", "SELECT mean(hba1c)", []int64{n, sum},
			func(s *Statistic) bool { return eq(s.Mean, 7) && s.Variance == nil && s.Unit == "%" && s.Scale == 100 }, ""},
		{"a variance is the sample variance in unit squared", "SELECT variance(hba1c)", []int64{n, sum, sumSq},
			func(s *Statistic) bool {
				return eq(s.Mean, 7) && eq(s.Variance, 1.0/6) && eq(s.Stddev, math.Sqrt(1.0/6))
			}, ""},
		{"a stddev is the square root of the sample variance", "SELECT stddev(sbp)", []int64{3, 360, 110*110 + 120*120 + 130*130},
			func(s *Statistic) bool {
				return s.Kind == "stddev" && eq(s.Mean, 120) && eq(s.Variance, 100) && eq(s.Stddev, 10)
			}, ""},
		{"a mean of nobody is absent with a note", "SELECT mean(bmi)", []int64{0, 0},
			func(s *Statistic) bool { return s.Mean == nil && *s.N == 0 }, "no mean"},
		{"one patient has no sample variance", "SELECT variance(bmi)", []int64{1, 2500, 2500 * 2500},
			func(s *Statistic) bool { return eq(s.Mean, 25) && s.Variance == nil }, "n < 2"},
		{"a noisy negative variance has no standard deviation", "SELECT stddev(age)", []int64{3, 150, 10},
			func(s *Statistic) bool { return s.Variance != nil && *s.Variance < 0 && s.Stddev == nil }, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := build(t, tt.text, tt.fig)
			if !tt.check(s) {
				js, _ := json.Marshal(s)
				t.Fatalf("%s", js)
			}
			if got := strings.Join(s.Notes, "; "); (tt.note == "") != (got == "") || !strings.Contains(got, tt.note) {
				t.Fatalf("notes %q, want %q", got, tt.note)
			}
		})
	}
}

func TestHistogram(t *testing.T) {
	tests := []struct {
		name string
		text string
		fig  []int64
		want []Bin
	}{
		{"age bins keep their edges in years", "SELECT histogram(age; 0, 18, 65, 120)", []int64{3, 5, 2},
			[]Bin{{0, 18, 3}, {18, 65, 5}, {65, 120, 2}}},
		{"bmi edges are divided by the scale", "SELECT histogram(bmi; 18.5, 25, 30)", []int64{7, 0},
			[]Bin{{18.5, 25, 7}, {25, 30, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := build(t, tt.text, tt.fig)
			if len(s.Histogram) != len(tt.want) {
				t.Fatalf("%+v", s.Histogram)
			}
			for i, b := range s.Histogram {
				if b != tt.want[i] {
					t.Fatalf("bin %d = %+v, want %+v", i, b, tt.want[i])
				}
			}
		})
	}
}

func TestKaplanMeier(t *testing.T) {
	// 10 patients, bins of 10 days to 30: bin 0 one event and one
	// censored, bin 1 two events and one censored, bin 2 one event and
	// two censored; two reach the horizon.
	exact := []int64{10, 1, 1, 8, 2, 1, 5, 1, 2, 2, 0, 0}
	tests := []struct {
		name   string
		fig    []int64
		wantS  []float64
		wantTo []uint32
		note   string
	}{
		{"the curve is the product of 1 − events/at_risk", exact,
			[]float64{0.9, 0.675, 0.54, 0.54}, []uint32{10, 20, 30, 30}, ""},
		{"more events than at risk (noise) clips the factor to zero", []int64{10, 1, 0, 2, 3, 0, 0, 0, 0, 0, 0, 0},
			[]float64{0.9, 0, 0, 0}, nil, "clipped"},
		{"events with nobody at risk (noise) leave the curve as it was", []int64{4, 1, 0, -1, 1, 0, 3, 0, 0, 3, 0, 0},
			[]float64{0.75, 0.75, 0.75, 0.75}, nil, "clipped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := build(t, "SELECT survival(C34; 10, 30)", tt.fig)
			if len(s.Survival) != 4 {
				t.Fatalf("%d bins", len(s.Survival))
			}
			for k, b := range s.Survival {
				if math.Abs(b.S-tt.wantS[k]) > 1e-15 || b.AtRisk != tt.fig[3*k] || b.Events != tt.fig[3*k+1] || b.Censored != tt.fig[3*k+2] {
					t.Fatalf("bin %d = %+v, want S %v", k, b, tt.wantS[k])
				}
				if tt.wantTo != nil && (b.ToDay != tt.wantTo[k] || b.FromDay != uint32(10*k)) {
					t.Fatalf("bin %d covers %d–%d", k, b.FromDay, b.ToDay)
				}
			}
			if got := strings.Join(s.Notes, ";"); !strings.Contains(got, tt.note) || (tt.note == "") != (got == "") {
				t.Fatalf("notes %q, want %q", got, tt.note)
			}
		})
	}
}

func TestLinearRegression(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		fig      []int64
		singular bool
		want     []float64
	}{
		// sbp = 100 + 0.5·age at ages 20, 40, 60.
		{"a fit through exact points recovers its line", "SELECT linreg(sbp ~ age)",
			[]int64{3, 120, 5600, 360, 14800, 110*110 + 120*120 + 130*130}, false, []float64{100, 0.5}},
		// sbp = 60 + 2·bmi at bmi 20, 25, 30 (scaled 2000, 2500, 3000).
		{"a scaled predictor's coefficient is per natural unit", "SELECT linreg(sbp ~ bmi)",
			[]int64{3, 7500, 19_250_000, 330, 835_000, 36_500}, false, []float64{60, 2}},
		// bmi = 10 + 0.1·sbp at sbp 100, 150, 200: bmi 20, 25, 30.
		{"a scaled response divides every coefficient by its scale", "SELECT linreg(bmi ~ sbp)",
			[]int64{3, 450, 72_500, 7500, 1_175_000, 19_250_000}, false, []float64{10, 0.1}},
		// Two predictors: sbp = 1 + 2·age + 3·bmi over four patients.
		{"two predictors are solved together", "SELECT linreg(sbp ~ age + bmi)",
			twoPredictors(), false, []float64{1, 2, 3}},
		{"a constant predictor makes XᵀX singular", "SELECT linreg(sbp ~ age)",
			[]int64{3, 120, 4800, 330, 13200, 36500}, true, nil},
		{"no patient at all is singular, not a division by zero", "SELECT linreg(sbp ~ age + bmi)",
			make([]int64, 10), true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := build(t, tt.text, tt.fig)
			l := s.Linreg
			if l.Singular != tt.singular || l.N != tt.fig[0] {
				t.Fatalf("%+v", l)
			}
			if tt.singular {
				if len(l.Coefficients) != 0 || !strings.Contains(strings.Join(s.Notes, ";"), "singular") {
					t.Fatalf("a singular fit reports %+v, notes %q", l.Coefficients, s.Notes)
				}
				return
			}
			for i, c := range l.Coefficients {
				if math.Abs(c.Value-tt.want[i]) > 1e-12 {
					t.Fatalf("β%d (%s) = %v, want %v", i, c.Name, c.Value, tt.want[i])
				}
			}
			if !eq(l.R2, 1) {
				t.Fatalf("R² of an exact fit = %v", l.R2)
			}
		})
	}
}

// twoPredictors is the figures of sbp = 1 + 2·age + 3·bmi at (age, bmi)
// = (30, 20), (40, 30), (50, 22), (60, 25), bmi scaled by 100.
func twoPredictors() []int64 {
	pts := [][2]int64{{30, 20}, {40, 30}, {50, 22}, {60, 25}}
	var x [][3]int64
	var y []int64
	for _, p := range pts {
		x = append(x, [3]int64{1, p[0], p[1] * 100})
		y = append(y, 1+2*p[0]+3*p[1])
	}
	var out []int64
	for i := range 3 {
		for j := i; j < 3; j++ {
			var s int64
			for k := range x {
				s += x[k][i] * x[k][j]
			}
			out = append(out, s)
		}
	}
	for i := range 3 {
		var s int64
		for k := range x {
			s += x[k][i] * y[k]
		}
		out = append(out, s)
	}
	var yy int64
	for _, v := range y {
		yy += v * v
	}
	return append(out, yy)
}

func TestWideFiguresAreJoined(t *testing.T) {
	// A small slot bound makes the sums wide (two slots each).
	lim := query.Limits{MaxSlots: 64, SlotBound: 1 << 20, MaxPatients: 1 << 10}
	rq := released(t, "SELECT count(), variance(hba1c)", true)
	plan, err := query.Layout(rq.Query, lim)
	if err != nil {
		t.Fatal(err)
	}
	if f := plan.Blocks[1].Figures; f[0].Wide || !f[1].Wide || !f[2].Wide {
		t.Fatalf("want sum and sum_sq wide: %+v", f)
	}
	tests := []struct {
		name   string
		totals []int64
		mean   float64
	}{
		{"totals above 2^32 come back whole", []int64{1000, 1000, 7_000_000_000, 49_000_000_000_100}, 70_000},
		{"a negative (noised) total comes back negative", []int64{2, 2, -3, 5}, -0.015},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Build(rq, lim, vector(t, rq, lim, tt.totals), nil)
			if err != nil {
				t.Fatal(err)
			}
			s := r.Statistics[1]
			if s.Figures[1].Value != tt.totals[2] || s.Figures[2].Value != tt.totals[3] || !s.Figures[1].Wide || !eq(s.Mean, tt.mean) {
				t.Fatalf("%+v mean %v", s.Figures, *s.Mean)
			}
		})
	}
}

func TestBuild(t *testing.T) {
	text := "SELECT count(), mean(age), survival(C34; 10, 30) WHERE sex = 'female'"
	totals := []int64{12, 12, 600, 10, 1, 1, 8, 2, 1, 5, 1, 2, 2, 0, 0}
	sigmaOK := func(_ *pb.ResearchQuery, plan *query.Plan) ([][]float64, error) {
		out := make([][]float64, len(plan.Blocks))
		for i, b := range plan.Blocks {
			for range b.Figures {
				out[i] = append(out[i], 2.5)
			}
		}
		return out, nil
	}
	tests := []struct {
		name    string
		dpOff   bool
		slots   int
		sigma   NoiseSigma
		noise   string
		wantErr string
	}{
		{"with DP off the report says the values are exact", true, 0, nil, "exact", ""},
		{"with DP on and no noise model it says so", false, 0, nil, "not reported", ""},
		{"with DP on and a noise model every figure has its σ", false, 0, sigmaOK, "σ is given", ""},
		{"a noise model of the wrong shape is refused", false, 0,
			func(*pb.ResearchQuery, *query.Plan) ([][]float64, error) { return [][]float64{{1}}, nil }, "", "noise description"},
		{"a failing noise model is refused", false, 0,
			func(*pb.ResearchQuery, *query.Plan) ([][]float64, error) { return nil, errors.New("boom") }, "", "boom"},
		{"a result shorter than the layout is refused", true, 3, nil, "", "3 slots"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rq := released(t, text, tt.dpOff)
			v := vector(t, rq, testLimits, totals)
			if tt.slots > 0 {
				v = v[:tt.slots]
			}
			r, err := Build(rq, testLimits, v, tt.sigma)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(r.Noise, tt.noise) || r.Query != 7 || r.NoisedCount != 120 || len(r.Contributors) != 3 ||
				!strings.Contains(r.Text, "AS OF '2025-01-01'") || len(r.Statistics) != 3 {
				t.Fatalf("%+v", r)
			}
			if (tt.sigma != nil) != (r.Statistics[2].Figures[5].Sigma != nil) {
				t.Fatalf("σ of a survival figure: %v", r.Statistics[2].Figures[5].Sigma)
			}
			var text, js bytes.Buffer
			if err := WriteText(&text, r); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"query 7", "count()", "mean(age)", "50", "10–20", "0.675000", r.Noise} {
				if !strings.Contains(text.String(), want) {
					t.Fatalf("the table lacks %q:\n%s", want, text.String())
				}
			}
			if err := json.NewEncoder(&js).Encode(r); err != nil {
				t.Fatal(err)
			}
			var back Report
			if err := json.Unmarshal(js.Bytes(), &back); err != nil || *back.Statistics[1].Mean != 50 || back.Statistics[2].Survival[2].S != 0.54 {
				t.Fatalf("JSON round trip: %v\n%s", err, js.String())
			}
		})
	}
}

func TestSurvivalSVG(t *testing.T) {
	rq := released(t, "SELECT count(), survival(C34; 10, 30), survival(E11; 10, 40)", true)
	totals := append([]int64{12, 10, 1, 1, 8, 2, 1, 5, 1, 2, 2, 0, 0}, 4, 1, 0, 3, 0, 0, 3, 1, 0, 2, 0, 0, 2, 0, 2)
	r, err := Build(rq, testLimits, vector(t, rq, testLimits, totals), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("every survival statistic is a step curve in a well-formed SVG", func(t *testing.T) {
		var b bytes.Buffer
		if err := WriteSurvivalSVG(&b, r); err != nil {
			t.Fatal(err)
		}
		dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
		polylines, root := 0, ""
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("not XML: %v\n%s", err, b.String())
			}
			if se, ok := tok.(xml.StartElement); ok {
				if root == "" {
					root = se.Name.Local
				}
				if se.Name.Local == "polyline" {
					polylines++
				}
			}
		}
		if root != "svg" || polylines != 2 || !strings.Contains(b.String(), "survival(C34; 10, 30)") {
			t.Fatalf("root %q, %d curves:\n%s", root, polylines, b.String())
		}
	})
	t.Run("a report read back from JSON draws the same plot", func(t *testing.T) {
		js, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back Report
		if err := json.Unmarshal(js, &back); err != nil {
			t.Fatal(err)
		}
		var a, b bytes.Buffer
		if err := WriteSurvivalSVG(&a, r); err != nil {
			t.Fatal(err)
		}
		if err := WriteSurvivalSVG(&b, &back); err != nil || !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("the plots differ (%v)", err)
		}
	})
	t.Run("a report without survival has nothing to plot", func(t *testing.T) {
		r2 := *r
		r2.Statistics = r.Statistics[:1]
		if err := WriteSurvivalSVG(io.Discard, &r2); !errors.Is(err, ErrNoSurvival) {
			t.Fatalf("err = %v", err)
		}
	})
}
