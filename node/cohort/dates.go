package cohort

import (
	"time"

	"github.com/medchain/medchain/node/fhir"
)

// Dates are calendar dates written YYYYMMDD as a uint32, as on chain; 0 is
// "none".

// dateOf is the YYYYMMDD of t's calendar date.
func dateOf(t time.Time) uint32 {
	y, m, d := t.Date()
	return uint32(y*10000 + int(m)*100 + d)
}

// dayOfDateTime is the calendar date of a FHIR dateTime as written (its
// first ten characters, local time), TRUTH.md's "date of a dateTime".
func dayOfDateTime(d fhir.DateTime) (uint32, bool) {
	t, err := d.Day()
	if err != nil {
		return 0, false
	}
	return dateOf(t), true
}

// validDate reports whether d is a calendar date YYYYMMDD from year 1 to
// 9999.
func validDate(d uint32) bool {
	y, m, day := d/10000, d/100%100, d%100
	if y < 1 || y > 9999 || m < 1 || m > 12 || day < 1 {
		return false
	}
	return day <= daysIn(y, m)
}

func daysIn(y, m uint32) uint32 {
	if m == 2 && (y%4 == 0 && y%100 != 0 || y%400 == 0) {
		return 29
	}
	return [13]uint32{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m]
}

// dayNumber is the number of days from 1970-01-01 to the valid date d
// (proleptic Gregorian calendar; H. Hinnant's days_from_civil).
func dayNumber(d uint32) int64 {
	y, m, day := int64(d/10000), int64(d/100%100), int64(d%100)
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// ageAt is the age in completed years on ref of someone born on birth:
// the difference of the years, minus one if ref's (month, day) comes before
// the birthday's. It is false when birth is unknown or after ref.
func ageAt(birth, ref uint32) (int64, bool) {
	if birth == 0 || birth > ref {
		return 0, false
	}
	age := int64(ref/10000) - int64(birth/10000)
	if ref%10000 < birth%10000 {
		age--
	}
	return age, true
}
