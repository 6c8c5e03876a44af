package fhir

import (
	"errors"
	"strings"
	"testing"
)

var pepper = []byte("alliance pepper, 32 bytes long!!")

func TestNormalisation(t *testing.T) {
	cases := []struct {
		name string
		fn   func(string) string
		in   []string
		want string
	}{
		{"ids keep letters and digits, upper-cased", NormalizeID, []string{"110105194912310021", "110105-19491231-0021", " 110105 19491231 0021 "}, "110105194912310021"},
		{"a resident id keeps its check character X", NormalizeID, []string{"11010519491231002x", "110105-19491231-002X"}, "11010519491231002X"},
		{"insurance numbers lose punctuation", NormalizeID, []string{"INS1234567890", "ins-1234-567890", "INS 1234 567890"}, "INS1234567890"},
		{"names are trimmed, collapsed and lower-cased", NormalizeName, []string{"Fang Wang", "  FANG   wang ", "fang\twang", "Fang\u00a0Wang"}, "fang wang"},
		{"phones keep digits", NormalizePhone, []string{"13800138000", "138-0013-8000", "(138) 0013 8000", " 138.0013.8000 "}, "13800138000"},
		{"a country code stays significant", NormalizePhone, []string{"+86 138 0013 8000", "86-138-0013-8000"}, "8613800138000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, in := range tc.in {
				if got := tc.fn(in); got != tc.want {
					t.Errorf("%q → %q, want %q", in, got, tc.want)
				}
			}
		})
	}
}

func TestIdentityOfPicksDocumentedFields(t *testing.T) {
	p := &Patient{
		ID: "p",
		Identifier: []Identifier{
			{System: "urn:medchain:mrn:hospital0", Value: "MRN1"},
			{System: SystemInsurance, Value: "INS-1"},
			{System: SystemNationalID, Value: "N-1"},
		},
		Name:    []HumanName{{Use: "old", Family: "Li", Given: []string{"Mei"}}, {Use: "official", Family: "Wang", Given: []string{"Mei", "Ling"}}},
		Telecom: []ContactPoint{{System: "email", Value: "a@b"}, {System: "phone", Value: "010-1", Use: "home"}, {System: "phone", Value: "139", Use: "mobile"}},
	}
	want := IdentityFields{NationalID: "N-1", Insurance: "INS-1", Name: "Mei Ling Wang", Phone: "139"}
	if got := IdentityOf(p); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	p.Telecom = p.Telecom[:2]
	p.Name = p.Name[:1]
	if got := IdentityOf(p); got.Phone != "010-1" || got.Name != "Mei Li" {
		t.Fatalf("fallbacks: %+v", got)
	}
}

func TestPseudonym(t *testing.T) {
	all := []string{FieldNationalID, FieldInsurance, FieldName, FieldPhone}
	person := IdentityFields{NationalID: "110105194912310021", Insurance: "INS1234567890", Name: "Fang Wang", Phone: "13800138000"}
	sameWrittenElsewhere := IdentityFields{NationalID: "110105-19491231-0021", Insurance: "ins 1234-567890", Name: "  FANG  wang", Phone: "(138) 0013-8000"}
	pid := func(pepper []byte, f IdentityFields, which []string) string {
		t.Helper()
		p, err := Pseudonym(pepper, f, which)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := pid(pepper, person, all)
	t.Run("is 64 hex characters", func(t *testing.T) {
		if len(base) != 64 || strings.Trim(base, "0123456789abcdef") != "" {
			t.Fatalf("%q", base)
		}
	})
	t.Run("the same person written differently gets the same pseudonym", func(t *testing.T) {
		if got := pid(pepper, sameWrittenElsewhere, all); got != base {
			t.Fatalf("%s != %s", got, base)
		}
	})
	t.Run("the order of the selectors does not matter", func(t *testing.T) {
		if got := pid(pepper, person, []string{FieldPhone, FieldName, FieldInsurance, FieldNationalID}); got != base {
			t.Fatal("order changed the pseudonym")
		}
	})
	t.Run("another pepper gives another pseudonym", func(t *testing.T) {
		if pid([]byte("another alliance's pepper......."), person, all) == base {
			t.Fatal("same pseudonym under another pepper")
		}
	})
	t.Run("another selection gives another pseudonym", func(t *testing.T) {
		seen := map[string]string{}
		for _, which := range [][]string{all, {FieldNationalID}, {FieldName, FieldPhone}, {FieldName, "phone:last4"}, {"national_id:first6", FieldName}, {"national_id:last6", FieldName}} {
			p := pid(pepper, person, which)
			if prev, dup := seen[p]; dup {
				t.Fatalf("%v and %s give the same pseudonym", which, prev)
			}
			seen[p] = strings.Join(which, ",")
		}
	})
	t.Run("a partial field only looks at its part", func(t *testing.T) {
		other := person
		other.Phone = "139-9999-8000"
		if pid(pepper, person, []string{FieldName, "phone:last4"}) != pid(pepper, other, []string{FieldName, "phone:last4"}) {
			t.Fatal("phones ending in 8000 differ under phone:last4")
		}
	})
	t.Run("a different person gets a different pseudonym", func(t *testing.T) {
		other := person
		other.NationalID = "110105194912310039"
		if pid(pepper, other, all) == base {
			t.Fatal("collision")
		}
	})
	errCases := []struct {
		name   string
		pepper []byte
		f      IdentityFields
		which  []string
		want   string
	}{
		{"a short pepper", []byte("short"), person, all, "pepper"},
		{"no selection", pepper, person, nil, "no identity fields"},
		{"an unknown field", pepper, person, []string{"email"}, `unknown field "email"`},
		{"a bad part", pepper, person, []string{"phone:middle4"}, "firstN or lastN"},
		{"a zero part", pepper, person, []string{"phone:last0"}, "1 to 64"},
		{"a padded part", pepper, person, []string{"phone:last04"}, "1 to 64"},
		{"a selector twice", pepper, person, []string{FieldName, FieldName}, "twice"},
		{"an empty selected field", pepper, IdentityFields{Name: "x"}, []string{FieldName, FieldPhone}, "phone is empty"},
		{"a field empty after normalisation", pepper, IdentityFields{Phone: "n/a"}, []string{FieldPhone}, "phone is empty"},
		{"a part longer than the field", pepper, IdentityFields{Phone: "123"}, []string{"phone:last4"}, "fewer than"},
	}
	for _, tc := range errCases {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			_, err := Pseudonym(tc.pepper, tc.f, tc.which)
			if !errors.Is(err, ErrIdentity) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrIdentity mentioning %q", err, tc.want)
			}
		})
	}
}
