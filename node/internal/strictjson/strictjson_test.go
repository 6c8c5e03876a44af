package strictjson

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

type entry struct {
	V    int    `json:"v"`
	Name string `json:"name,omitempty"`
}

func TestDecode(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    entry
		wantErr string
	}{
		{"one object with known fields is decoded", `{"v":1,"name":"a"}`, entry{V: 1, Name: "a"}, ""},
		{"white space around the object is fine", " \n{\"v\":2}\n\t", entry{V: 2}, ""},
		{"an unknown field is refused and named", `{"v":1,"extra":true}`, entry{}, `unknown field "extra"`},
		{"a second object is trailing data", `{"v":1} {}`, entry{}, ErrTrailingData.Error()},
		{"a stray closing brace is trailing data", `{"v":1}}`, entry{}, ErrTrailingData.Error()},
		{"a stray closing bracket is trailing data", `{"v":1}]`, entry{}, ErrTrailingData.Error()},
		{"garbage after the object is trailing data", `{"v":1}x`, entry{}, ErrTrailingData.Error()},
		{"a wrong type is refused", `{"v":"1"}`, entry{}, "cannot unmarshal string"},
		{"empty input is refused", ``, entry{}, "EOF"},
		{"a truncated object is refused", `{"v":1`, entry{}, "unexpected EOF"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got entry
			err := Decode([]byte(c.in), &got)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, c.wantErr)
			case c.wantErr == "" && got != c.want:
				t.Fatalf("decoded %+v, want %+v", got, c.want)
			}
		})
	}
	t.Run("trailing data is recognisable with errors.Is", func(t *testing.T) {
		var e entry
		if err := Decode([]byte(`{} {}`), &e); !errors.Is(err, ErrTrailingData) {
			t.Fatalf("err = %v", err)
		}
	})
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"v":1,"name":"a"}`, `{"v":1} {}`, `{"v":1}]`, `{"x":1}`, `[]`, ``, `{"v":1e400}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var e entry
		if err := Decode(b, &e); err != nil {
			return
		}
		// What Decode accepts re-encodes to a value it accepts again, equal.
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var again entry
		if err := Decode(out, &again); err != nil || !reflect.DeepEqual(e, again) {
			t.Fatalf("%q decoded to %+v, whose encoding %s decodes to %+v (%v)", b, e, out, again, err)
		}
	})
}
