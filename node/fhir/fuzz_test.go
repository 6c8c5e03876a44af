package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzLimits keep each input cheap.
var fuzzLimits = Limits{MaxFileBytes: 1 << 16, MaxLineBytes: 1 << 14, MaxResources: 64}

// checkReadResult is what every reader promises: a *Error wrapping a cause,
// or a set whose canonical records read back to the same bytes.
func checkReadResult(t *testing.T, s *Set, err error) {
	if err != nil {
		var fe *Error
		if !errors.As(err, &fe) || fe.Kind == nil || !errors.Is(err, fe.Kind) {
			t.Fatalf("error %T %q is not a *fhir.Error with a cause", err, err)
		}
		return
	}
	c, err := NewCohort(s)
	if err != nil {
		if !errors.Is(err, ErrDangling) {
			t.Fatalf("NewCohort: %v", err)
		}
		return
	}
	for _, r := range c.Patients {
		a, err := r.CanonicalJSON()
		if err != nil {
			t.Fatalf("canonical form of an accepted record: %v", err)
		}
		s2, err := ReadBundle(bytes.NewReader(a), Limits{})
		if err != nil {
			t.Fatalf("canonical record does not read back: %v\n%s", err, a)
		}
		c2, err := NewCohort(s2)
		if err != nil || len(c2.Patients) != 1 {
			t.Fatalf("canonical record: %v", err)
		}
		b, _ := c2.Patients[0].CanonicalJSON()
		if !bytes.Equal(a, b) {
			t.Fatalf("canonical form is not a fixed point:\n%s\n%s", a, b)
		}
	}
}

func FuzzReadNDJSON(f *testing.F) {
	f.Add([]byte(validNDJSON))
	f.Add([]byte(patientLine))
	f.Add([]byte(strings.Replace(observationLine, "7.10", "-0.0", 1)))
	f.Add([]byte(`{"resourceType":"Patient","id":"a","name":[{"given":["\u00e9"]}],"deceasedDateTime":"2020-01-01T00:00:00.5Z"}`))
	f.Add([]byte("{}\n[]\nnull\n"))
	f.Add([]byte(`{"resourceType":"Patient","id":"a","id":"b"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ReadNDJSON(bytes.NewReader(data), fuzzLimits)
		checkReadResult(t, s, err)
	})
}

func FuzzReadBundle(f *testing.F) {
	f.Add([]byte(validBundle()))
	f.Add([]byte(`{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Patient"},"resource":` + patientLine + `}]}`))
	f.Add([]byte(`{"resourceType":"Bundle","type":"searchset","total":1,"link":[],"entry":[{"search":{"mode":"match","score":1},"resource":` + patientLine + `}]}`))
	f.Add([]byte(`{"resourceType":"Bundle","type":"collection"}`))
	f.Add([]byte(`{"resourceType":"Bundle","entry":[1,2,3]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ReadBundle(bytes.NewReader(data), fuzzLimits)
		checkReadResult(t, s, err)
	})
}

func FuzzPseudonym(f *testing.F) {
	f.Add("110105-19491231-002x", "ins 1", "  Fang  WANG", "(138) 0013-8000", "name,phone:last4")
	f.Add("", "", "", "", "")
	f.Add("\xff", "é", "\u00a0", "٣", "national_id:first64")
	f.Fuzz(func(t *testing.T, nid, ins, name, phone, which string) {
		fields := IdentityFields{NationalID: nid, Insurance: ins, Name: name, Phone: phone}
		n := fields.Normalized()
		if n.Normalized() != n {
			t.Fatalf("normalisation is not idempotent: %+v → %+v", n, n.Normalized())
		}
		sel := strings.Split(which, ",")
		p1, err1 := Pseudonym(pepper, fields, sel)
		p2, err2 := Pseudonym(pepper, n, sel)
		if (err1 == nil) != (err2 == nil) || p1 != p2 {
			t.Fatalf("raw and normalised fields disagree: %q %v / %q %v", p1, err1, p2, err2)
		}
		if err1 != nil && !errors.Is(err1, ErrIdentity) {
			t.Fatalf("error %v does not wrap ErrIdentity", err1)
		}
	})
}

// FuzzSplitObject checks the hand-written splitter against encoding/json on
// every valid JSON object: same keys, same values.
func FuzzSplitObject(f *testing.F) {
	f.Add([]byte(patientLine))
	f.Add([]byte(`{ "a" : [1, {"b":"}"}], "c\"d" : "\u00e9" , "e":-1.5e3,"f":null}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The readers refuse invalid UTF-8 (checkUTF8) before anything is
		// split; encoding/json would silently replace it with U+FFFD.
		if !json.Valid(data) || !utf8.Valid(data) || len(bytes.TrimSpace(data)) == 0 || bytes.TrimSpace(data)[0] != '{' {
			return
		}
		keys, vals, fe := splitObject(data, "")
		var want map[string]json.RawMessage
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		if fe != nil {
			if errors.Is(fe, ErrDuplicate) || errors.Is(fe, ErrInvalid) && len(want) >= maxKeys {
				return
			}
			t.Fatalf("valid object refused: %v", fe)
		}
		got := map[string]json.RawMessage{}
		for i, k := range keys {
			got[k] = bytes.TrimSpace(vals[i])
		}
		for k, v := range want {
			want[k] = bytes.TrimSpace(v)
		}
		if len(keys) != len(want) || !reflect.DeepEqual(got, want) {
			t.Fatalf("split %q\n got %q\nwant %q", data, got, want)
		}
		for _, v := range vals {
			if elems, fe := splitArray(v, ""); v[0] == '[' && fe != nil {
				t.Fatalf("array %q refused: %v", v, fe)
			} else if v[0] == '[' {
				var w []json.RawMessage
				_ = json.Unmarshal(v, &w)
				if len(w) != len(elems) {
					t.Fatalf("array %q: %d elements, want %d", v, len(elems), len(w))
				}
			}
		}
	})
}
