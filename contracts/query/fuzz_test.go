package query

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

// FuzzParse: Parse never panics, and whatever it accepts formats to a text
// that reads back to the same query.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"SELECT count()",
		"SELECT count(), mean(hba1c), variance(hba1c), histogram(age; 0,18,40,65,80,120) WHERE condition = 'E11' AND age >= 50 AND sex = 'female'",
		"SELECT survival(C34; 30, 1825), linreg(sbp ~ age + bmi) AS OF '2025-01-01'",
		"SELECT count() WHERE NOT (encounter = 'IMP' OR seen BETWEEN '2020-01-01' AND '2021-01-01') AND bmi != -0.5",
		"select stddev(sbp) where ((age<5))",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		q, err := Parse(text)
		if err != nil {
			return
		}
		again, err := Parse(Format(q))
		if err != nil {
			t.Fatalf("canonical text %q of %q does not parse: %v", Format(q), text, err)
		}
		if !proto.Equal(q, again) {
			t.Fatalf("%q → %q reads back differently", text, Format(q))
		}
	})
}
