package records

import (
	"bytes"
	"math"
	"testing"
)

func TestKeysAreDistinctAndInTheirSpans(t *testing.T) {
	a := [32]byte{1}
	b := [32]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	d := [20]byte{2}
	in := func(k []byte, s bounds) bool { return bytes.Compare(k, s.start) >= 0 && bytes.Compare(k, s.end) < 0 }
	tests := []struct {
		name string
		key  []byte
		span bounds
		in   bool
	}{
		{"a patient's record index entry is in its span", patientRecordKey(a, b), patientRecordSpan(a), true},
		{"another patient's record index entry is not", patientRecordKey(b, a), patientRecordSpan(a), false},
		{"the last record of the all-ff patient is in its span", patientRecordKey(b, b), patientRecordSpan(b), true},
		{"a patient's grant entry is in its span", patientGrantKey(a, math.MaxUint64), patientGrantSpan(a), true},
		{"a grantee's entry is in its span", granteeGrantKey(d, 7), granteeGrantSpan(d), true},
		{"a record's key copy is in its span", KeyCopyKey(a, 3), keyCopySpan(a), true},
		{"another record's key copy is not", KeyCopyKey(b, 3), keyCopySpan(a), false},
		{"a record's access entry is in its span", recordAccessKey(a, 1), recordAccessSpan(a), true},
		{"a doctor's access entry is in its span", doctorAccessKey(d, 1), doctorAccessSpan(d), true},
		{"an open review is in its span", openReviewKey(5), openReviewSpan(), true},
		{"an access entry is not an open review", AccessKey(5), openReviewSpan(), false},
		{"a consent choice at height 0 is in its span", ConsentKey(a, 0), consentSpan(a), true},
		{"a consent choice at the largest height is in its span", ConsentKey(a, math.MaxInt64), consentSpan(a), true},
		{"the record of a patient is not in its consent span", PatientKey(a), consentSpan(a), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if in(tt.key, tt.span) != tt.in {
				t.Fatalf("key %x in [%x, %x) = %v", tt.key, tt.span.start, tt.span.end, !tt.in)
			}
		})
	}
	t.Run("every key is inside the contract's span, and prefixes differ", func(t *testing.T) {
		start, end := Span()
		seen := map[byte]string{}
		for name, k := range map[string][]byte{
			"patient": PatientKey(a), "record": RecordKey(a), "patientRecord": patientRecordKey(a, a), "grant": GrantKey(1),
			"patientGrant": patientGrantKey(a, 1), "granteeGrant": granteeGrantKey(d, 1), "keyCopy": KeyCopyKey(a, 1),
			"access": AccessKey(1), "recordAccess": recordAccessKey(a, 1), "doctorAccess": doctorAccessKey(d, 1),
			"openReview": openReviewKey(1), "consent": ConsentKey(a, 1), "gateway": GatewayKey("h1"), "counter": counterKey(counterGrant),
		} {
			if bytes.Compare(k, start) < 0 || bytes.Compare(k, end) >= 0 {
				t.Errorf("%s key %x outside [%x, %x)", name, k, start, end)
			}
			if other, dup := seen[k[0]]; dup {
				t.Errorf("%s and %s share prefix %x", name, other, k[0])
			}
			seen[k[0]] = name
		}
	})
	t.Run("builders return fresh slices", func(t *testing.T) {
		k1, k2 := KeyCopyKey(a, 1), KeyCopyKey(a, 1)
		k1[3] ^= 1
		if bytes.Equal(k1, k2) {
			t.Error("KeyCopyKey shares its slice")
		}
		s := patientRecordSpan(a)
		s.end[0] ^= 1
		if patientRecordSpan(a).end[0] == s.end[0] {
			t.Error("span shares its slice")
		}
	})
}

func TestParseID(t *testing.T) {
	good := "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{good, true},
		{good[:63], false},
		{good + "0", false},
		{"00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff", false},
		{"g0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", false},
		{"", false},
	} {
		id, err := ParseID("id", tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseID(%q) = %v", tt.in, err)
		}
		if tt.ok && (id[0] != 0x00 || id[5] != 0x55 || id[31] != 0xff) {
			t.Errorf("ParseID(%q) = %x", tt.in, id)
		}
	}
}

func TestAZeroDecisionDenies(t *testing.T) {
	var d Decision
	if d.Allowed || d.Err() == nil {
		t.Fatal("the zero Decision allows")
	}
}
