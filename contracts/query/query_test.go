package query

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts/pb"
)

func TestParseAcceptsTheLanguage(t *testing.T) {
	cases := []struct {
		name, text, canonical string
	}{
		{"the issue's example reads", "SELECT count(), mean(hba1c), variance(hba1c), histogram(age; 0,18,40,65,80,120) WHERE condition = 'E11' AND age >= 50 AND sex = 'female'",
			"SELECT count(), mean(hba1c), variance(hba1c), histogram(age; 0, 18, 40, 65, 80, 120) WHERE condition = 'E11' AND age >= 50 AND sex = 'female'"},
		{"keywords and names are case-insensitive", "select COUNT() where Condition = 'e11.9' and HBA1C > 7.5",
			"SELECT count() WHERE condition = 'E11.9' AND hba1c > 7.5"},
		{"survival and linreg read", "SELECT survival(C34; 30, 1825), linreg(sbp ~ age + bmi) AS OF '2025-01-01'",
			"SELECT survival(C34; 30, 1825), linreg(sbp ~ age + bmi) AS OF '2025-01-01'"},
		{"OR binds looser than AND and keeps its parentheses", "SELECT count() WHERE (condition = 'I10' OR condition = 'E11') AND NOT bmi < 25",
			"SELECT count() WHERE (condition = 'I10' OR condition = 'E11') AND NOT bmi < 25"},
		{"nested ANDs are flattened", "SELECT count() WHERE age > 1 AND (sex = 'male' AND (bmi >= 30 AND sbp != 120))",
			"SELECT count() WHERE age > 1 AND sex = 'male' AND bmi >= 30 AND sbp != 120"},
		{"NOT of a group keeps its parentheses", "SELECT sum(sbp), stddev(bmi) WHERE NOT (encounter = 'IMP' OR encounter = 'emer')",
			"SELECT sum(sbp), stddev(bmi) WHERE NOT (encounter = 'IMP' OR encounter = 'EMER')"},
		{"a date range reads", "SELECT count() WHERE seen BETWEEN '2020-01-01' AND '2024-02-29' OR age <= 17",
			"SELECT count() WHERE seen BETWEEN '2020-01-01' AND '2024-02-29' OR age <= 17"},
		{"decimals are exact and trailing zeros go", "SELECT histogram(hba1c; 4.00, 5.7, 6.5, 14) WHERE bmi = -0.5",
			"SELECT histogram(hba1c; 4, 5.7, 6.5, 14) WHERE bmi = -0.5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, err := Parse(tc.text)
			if err != nil {
				t.Fatal(err)
			}
			if got := Format(q); got != tc.canonical {
				t.Fatalf("Format = %s\nwant     %s", got, tc.canonical)
			}
			again, err := Parse(Format(q))
			if err != nil || !proto.Equal(again, q) {
				t.Fatalf("the canonical text does not read back to the same query: %v", err)
			}
		})
	}
	t.Run("values are stored scaled", func(t *testing.T) {
		q, err := Parse("SELECT count() WHERE hba1c >= 6.5 AND bmi < 30.25 AND age > 49")
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, it := range q.Where.GetAnd().Items {
			got = append(got, it.GetCompare().Value)
		}
		if want := []int64{650, 3025, 49}; !equal(got, want) {
			t.Fatalf("scaled values %v, want %v", got, want)
		}
	})
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseRefusesWithTheWayOut(t *testing.T) {
	cases := []struct {
		name, text, want string
		err              error
	}{
		{"an empty text", "", "want SELECT", ErrSyntax},
		{"no statistic", "SELECT", "want a statistic", ErrSyntax},
		{"an unknown statistic", "SELECT median(age)", "unknown statistic", ErrSyntax},
		{"an unknown field", "SELECT mean(weight)", "age, hba1c, bmi or sbp", ErrSyntax},
		{"too many decimals for the field", "SELECT count() WHERE hba1c > 7.555", "at most 2 decimals", ErrSyntax},
		{"decimals on a whole-number field", "SELECT count() WHERE age > 50.5", "at most 0 decimals", ErrSyntax},
		{"an unclosed string", "SELECT count() WHERE condition = 'E11", "no closing", ErrSyntax},
		{"a stray character", "SELECT count() WHERE age > 5 & sex = 'male'", "unexpected character", ErrSyntax},
		{"a bare !", "SELECT count() WHERE age ! 5", "'!' must be followed", ErrSyntax},
		{"junk after the query", "SELECT count() count()", "want ',' and another statistic", ErrSyntax},
		{"an unknown sex", "SELECT count() WHERE sex = 'f'", "female, male", ErrSyntax},
		{"an unknown filter name", "SELECT count() WHERE weight > 5", "unknown name", ErrSyntax},
		{"a bad date", "SELECT count() AS OF '2025-02-30'", "YYYY-MM-DD", ErrSyntax},
		{"an unclosed parenthesis", "SELECT count() WHERE (age > 5", `want ")"`, ErrSyntax},
		{"a text over the limit", "SELECT count() WHERE " + strings.Repeat("age > 1 AND ", 400) + "age > 1", "limit", ErrSyntax},
		{"filters nested too deep", "SELECT count() WHERE " + strings.Repeat("NOT ", 20) + "age > 1", "nest at most", ErrSyntax},
		{"histogram edges not ascending", "SELECT histogram(age; 0, 40, 18)", "strictly ascending", ErrInvalid},
		{"a histogram with one edge", "SELECT histogram(age; 0)", "at least two edges", ErrInvalid},
		{"a histogram edge out of range", "SELECT histogram(age; 0, 500)", "outside", ErrInvalid},
		{"a repeated statistic", "SELECT count(), count()", "repeats", ErrInvalid},
		{"a malformed condition code", "SELECT count() WHERE condition = 'diabetes'", "ICD-10", ErrInvalid},
		{"an unknown encounter class", "SELECT count() WHERE encounter = 'HOME'", "AMB, EMER, IMP", ErrInvalid},
		{"a backwards date range", "SELECT count() WHERE seen BETWEEN '2024-01-01' AND '2020-01-01'", "not after", ErrInvalid},
		{"survival bins too fine", "SELECT survival(C34; 1, 36500)", "widen the bins", ErrInvalid},
		{"a linreg predictor that is the response", "SELECT linreg(sbp ~ sbp)", "response", ErrInvalid},
		{"a linreg predictor twice", "SELECT linreg(sbp ~ age + age)", "repeated", ErrInvalid},
		{"a comparison out of range", "SELECT count() WHERE sbp > 9000", "outside", ErrInvalid},
		{"too many statistics", "SELECT " + strings.Repeat("count(), ", 16) + "count()", "at most 16", ErrInvalid},
		{"more slots than a vector has", "SELECT survival(C34; 1, 511), survival(E11; 1, 511), survival(I10; 1, 511), survival(J45; 1, 511), survival(E84; 1, 511), survival(C50; 1, 511)", "slots", ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.text)
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.err, tc.want)
			}
		})
	}
}

func TestValidateRefusesNonCanonicalForms(t *testing.T) {
	age := &pb.Filter{Node: &pb.Filter_Compare{Compare: &pb.Comparison{Field: pb.Field_FIELD_AGE, Op: pb.CmpOp_CMP_GT, Value: 1}}}
	count := []*pb.Statistic{{Kind: &pb.Statistic_Count{Count: &pb.Count{}}}}
	and := func(items ...*pb.Filter) *pb.Filter {
		return &pb.Filter{Node: &pb.Filter_And{And: &pb.FilterList{Items: items}}}
	}
	cases := []struct {
		name string
		q    *pb.Query
		want string
	}{
		{"a nil query", nil, "no query"},
		{"an AND of one item", &pb.Query{Statistics: count, Where: and(age)}, "at least two"},
		{"an AND inside an AND", &pb.Query{Statistics: count, Where: and(age, and(age, age))}, "flatten"},
		{"an empty filter", &pb.Query{Statistics: count, Where: &pb.Filter{}}, "empty condition"},
		{"a statistic without a kind", &pb.Query{Statistics: []*pb.Statistic{{}}}, "no statistic kind"},
		{"an unknown field", &pb.Query{Statistics: []*pb.Statistic{{Kind: &pb.Statistic_Mean{Mean: &pb.FieldStat{Field: 9}}}}}, "unknown field"},
		{"an unknown operator", &pb.Query{Statistics: count, Where: &pb.Filter{Node: &pb.Filter_Compare{Compare: &pb.Comparison{Field: pb.Field_FIELD_AGE, Op: 0}}}}, "unknown comparison"},
		{"a ref date that is not a date", &pb.Query{Statistics: count, RefDate: 20251340}, "not a date"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.q, DefaultLimits)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestLayout(t *testing.T) {
	q, err := Parse("SELECT count(), mean(hba1c), variance(bmi), histogram(age; 0,18,40,65,80,120), survival(C34; 30, 1825), linreg(sbp ~ age + bmi)")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Layout(q, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	wide := map[string]bool{}
	next := 0
	for _, b := range p.Blocks {
		for _, f := range b.Figures {
			if f.Slot != next {
				t.Fatalf("figure %s at slot %d, want %d (slots are packed in order)", f.Name, f.Slot, next)
			}
			next++
			if f.Wide {
				next++
			}
			names = append(names, FormatStatistic(b.Statistic)+"."+f.Name)
			wide[FormatStatistic(b.Statistic)+"."+f.Name] = f.Wide
		}
	}
	if next != p.Slots {
		t.Fatalf("Slots = %d, figures end at %d", p.Slots, next)
	}
	// count 1; mean 2; variance 3; histogram 5; survival 61×3; linreg 6+3+1.
	if want := 1 + 2 + 3 + 5 + 61*3 + 10; len(names) != want {
		t.Fatalf("%d figures, want %d", len(names), want)
	}
	for name, want := range map[string]bool{
		"count().n": false, "mean(hba1c).sum": false, "variance(bmi).sum_sq": true,
		"linreg(sbp ~ age + bmi).xtx[0][0]": false, "linreg(sbp ~ age + bmi).xtx[2][2]": true, "linreg(sbp ~ age + bmi).yty": true,
	} {
		if w, ok := wide[name]; !ok || w != want {
			t.Errorf("%s: wide = %v (present %v), want %v", name, w, ok, want)
		}
	}
}

func TestWideFiguresSplitAndJoinExactly(t *testing.T) {
	f := Figure{Name: "x", Slot: 1, Wide: true}
	for _, sums := range [][]int64{
		{0}, {1}, {-1}, {WideBase - 1, 1}, {-WideBase, 3}, {1 << 50, -(1 << 49), 12345}, {-(1 << 55), -(1 << 55), 7},
	} {
		total := make([]int64, 3)
		var want int64
		for _, s := range sums {
			v := make([]int64, 3)
			f.Split(v, s)
			if v[1] < 0 || v[1] >= WideBase {
				t.Fatalf("low limb %d of %d is outside [0, 2^32)", v[1], s)
			}
			for i := range v {
				total[i] += v[i]
			}
			want += s
		}
		got, err := f.Join(total)
		if err != nil || got != want {
			t.Fatalf("sums %v: joined %d, %v; want %d", sums, got, err, want)
		}
	}
}
