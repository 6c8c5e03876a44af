package cohort

import (
	"testing"
	"time"

	"github.com/medchain/medchain/node/fhir"
)

func TestDayNumberCountsDaysLikeTheTimePackage(t *testing.T) {
	for _, d := range []uint32{19700101, 19691231, 19000228, 19000301, 20000229, 20000301, 20241231, 20250101, 16000101, 10101, 99991231} {
		tm := time.Date(int(d/10000), time.Month(d/100%100), int(d%100), 0, 0, 0, 0, time.UTC)
		t.Run("the day number of "+tm.Format(time.DateOnly)+" is its Unix day", func(t *testing.T) {
			if got, want := dayNumber(d), tm.Unix()/86400; got != want { // midnight UTC: an exact multiple
				t.Fatalf("dayNumber(%d) = %d, want %d", d, got, want)
			}
		})
	}
}

func TestAgeIsCompletedYearsAtTheReferenceDate(t *testing.T) {
	cases := []struct {
		name       string
		birth, ref uint32
		age        int64
		ok         bool
	}{
		{"on the birthday the year is completed", 19700615, 20250615, 55, true},
		{"the day before the birthday it is not", 19700615, 20250614, 54, true},
		{"someone born on 29 February is a year older on 1 March", 20000229, 20250301, 25, true},
		{"and not yet on 28 February", 20000229, 20250228, 24, true},
		{"a birth on the reference date is age 0", 20250101, 20250101, 0, true},
		{"a birth after the reference date has no age", 20250102, 20250101, 0, false},
		{"an unknown birth date has no age", 0, 20250101, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			age, ok := ageAt(tc.birth, tc.ref)
			if age != tc.age || ok != tc.ok {
				t.Fatalf("ageAt(%d, %d) = %d, %v; want %d, %v", tc.birth, tc.ref, age, ok, tc.age, tc.ok)
			}
		})
	}
}

func TestScaledValueRoundsToTheFieldsPrecision(t *testing.T) {
	cases := []struct {
		name  string
		value fhir.Decimal
		scale int64
		want  int64
		ok    bool
	}{
		{"an exact value is kept", "7.5", 100, 750, true},
		{"a half rounds away from zero", "7.125", 100, 713, true},
		{"a negative half rounds away from zero", "-7.125", 100, -713, true},
		{"below a half rounds down", "7.1249", 100, 712, true},
		{"a whole-unit field rounds to units", "120.5", 1, 121, true},
		{"a huge value saturates", "123456789012345678901234567890", 100, saturation, true},
		{"a malformed decimal is no value", "1e3", 100, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := scaledValue(tc.value, tc.scale)
			if v != tc.want || ok != tc.ok {
				t.Fatalf("scaledValue(%s, %d) = %d, %v; want %d, %v", tc.value, tc.scale, v, ok, tc.want, tc.ok)
			}
		})
	}
}
