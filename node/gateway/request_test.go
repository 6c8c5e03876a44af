package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const (
	testDoctor = "mc1" + "00112233445566778899aabbccddeeff00112233"
	testRecord = "aa00000000000000000000000000000000000000000000000000000000000001"
	testNonce  = "0123456789abcdef0123456789abcdef"
)

var testSig = b64(make([]byte, 64))

func validBody() string {
	return `{"chain_id":"medchain-test","access_id":7,"record_id":"` + testRecord + `","doctor":"` + testDoctor +
		`","timestamp":1700000000,"nonce":"` + testNonce + `","signature":"` + testSig + `"}`
}

func TestSigningBytesAreFixed(t *testing.T) {
	r := FetchRequest{
		ChainID: "medchain-test", AccessID: 7, RecordID: testRecord, Doctor: testDoctor,
		Timestamp: 1700000000, Nonce: testNonce, Signature: "ignored",
	}
	want := "medchain/gateway-fetch/v1\nmedchain-test\nh1\n7\n" + testRecord + "\n" + testDoctor + "\n1700000000\n" + testNonce + "\n"
	t.Run("the fields come in the fixed order after the domain line", func(t *testing.T) {
		if got := string(SigningBytes(r, "h1")); got != want {
			t.Fatalf("got %q\nwant %q", got, want)
		}
	})
	t.Run("the hospital is bound into the bytes", func(t *testing.T) {
		if bytes.Equal(SigningBytes(r, "h1"), SigningBytes(r, "h2")) {
			t.Fatal("two gateways share signing bytes")
		}
	})
	t.Run("the signature field is not covered", func(t *testing.T) {
		r2 := r
		r2.Signature = "other"
		if !bytes.Equal(SigningBytes(r, "h1"), SigningBytes(r2, "h1")) {
			t.Fatal("the signature changed the signing bytes")
		}
	})
}

func TestDecodeFetchRequest(t *testing.T) {
	valid := validBody()
	tests := []struct {
		name string
		body string
		want string // "" for success, else a part of the error
	}{
		{"a valid request decodes", valid, ""},
		{"the keys may come in any order", `{"signature":"` + testSig + `","nonce":"` + testNonce + `","timestamp":1700000000,"doctor":"` + testDoctor +
			`","record_id":"` + testRecord + `","access_id":7,"chain_id":"medchain-test"}`, ""},
		{"an empty body is refused", ``, "not JSON"},
		{"an array is refused", `[1,2]`, "one JSON object"},
		{"an unknown key is refused and named", strings.Replace(valid, `"access_id"`, `"purpose":"x","access_id"`, 1), `unknown key "purpose"`},
		{"a key in another case is refused", strings.Replace(valid, `"nonce"`, `"NONCE"`, 1), `unknown key "NONCE"`},
		{"a repeated key is refused", strings.Replace(valid, `"access_id":7`, `"access_id":7,"access_id":8`, 1), "appears twice"},
		{"a missing key is refused and named", strings.Replace(valid, `"access_id":7,`, ``, 1), `"access_id" is missing`},
		{"data after the object is refused", valid + `{}`, "after the JSON object"},
		{"a truncated object is refused", valid[:40], "JSON"},
		{"a negative access id is refused", strings.Replace(valid, `"access_id":7`, `"access_id":-7`, 1), "whole number"},
		{"a zero access id is refused", strings.Replace(valid, `"access_id":7`, `"access_id":0`, 1), "access_id is missing"},
		{"a string access id is refused", strings.Replace(valid, `"access_id":7`, `"access_id":"7"`, 1), "access_id"},
		{"a fractional timestamp is refused", strings.Replace(valid, `1700000000`, `1700000000.5`, 1), "timestamp"},
		{"a zero timestamp is refused", strings.Replace(valid, `1700000000`, `0`, 1), "timestamp is missing"},
		{"an uppercase record id is refused", strings.Replace(valid, testRecord, strings.ToUpper(testRecord), 1), "record_id"},
		{"a short record id is refused", strings.Replace(valid, testRecord, testRecord[:62], 1), "record_id"},
		{"a doctor that is no address is refused", strings.Replace(valid, testDoctor, "doctor-1", 1), "doctor"},
		{"a short nonce is refused", strings.Replace(valid, testNonce, testNonce[:30], 1), "nonce"},
		{"an uppercase nonce is refused", strings.Replace(valid, testNonce, strings.ToUpper(testNonce), 1), "nonce"},
		{"a signature that is no base64 is refused", strings.Replace(valid, testSig, "%%%", 1), "signature"},
		{"a short signature is refused", strings.Replace(valid, testSig, b64(make([]byte, 63)), 1), "signature"},
		{"an empty chain id is refused", strings.Replace(valid, `"medchain-test"`, `""`, 1), "chain_id"},
		{"a chain id with a newline is refused", strings.Replace(valid, `"medchain-test"`, `"a\nb"`, 1), "chain_id"},
		{"a null field is refused", strings.Replace(valid, `"`+testNonce+`"`, `null`, 1), "nonce"},
		{"a body over the limit is refused", valid + strings.Repeat(" ", MaxRequestBytes), "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeFetchRequest([]byte(tt.body))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if r.AccessID != 7 || r.RecordID != testRecord || r.Doctor != testDoctor || r.Nonce != testNonce {
					t.Fatalf("decoded %+v", r)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
			if r != nil {
				t.Fatal("a refused body decoded to a request")
			}
		})
	}
	t.Run("an oversize body is ErrBodyTooLarge", func(t *testing.T) {
		if _, err := DecodeFetchRequest(make([]byte, MaxRequestBytes+1)); !errors.Is(err, ErrBodyTooLarge) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("errors do not echo the values sent", func(t *testing.T) {
		secretish := strings.Repeat("z", 40)
		_, err := DecodeFetchRequest([]byte(strings.Replace(valid, testNonce, secretish, 1)))
		if err == nil || strings.Contains(err.Error(), secretish) {
			t.Fatalf("got %v", err)
		}
	})
}

// FuzzDecodeFetchRequest: no input panics, and whatever decodes is valid
// and survives a JSON round trip unchanged.
func FuzzDecodeFetchRequest(f *testing.F) {
	f.Add([]byte(validBody()))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"chain_id":"x","chain_id":"y"}`))
	f.Add([]byte(`{"access_id":18446744073709551616}`))
	f.Add([]byte(`[{"a":1}]`))
	f.Add([]byte(strings.Replace(validBody(), `"nonce"`, `"n\u006fnce"`, 1)))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeFetchRequest(body)
		if err != nil {
			if r != nil {
				t.Fatal("error with a request")
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("decoded an invalid request: %v", err)
		}
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := DecodeFetchRequest(again)
		if err != nil || *r2 != *r {
			t.Fatalf("round trip: %v, %+v != %+v", err, r2, r)
		}
	})
}

func TestNonceCache(t *testing.T) {
	k := func(n string) nonceKey { return nonceKey{doctor: testDoctor, nonce: n} }
	t.Run("a recorded nonce is seen until its window ends, then forgotten", func(t *testing.T) {
		c := newNonceCache(10)
		if replayed, full := c.add(k("a"), 100, 50); replayed || full {
			t.Fatal("first add refused")
		}
		if !c.seen(k("a"), 100) {
			t.Fatal("not seen within its window")
		}
		if replayed, _ := c.add(k("a"), 100, 60); !replayed {
			t.Fatal("a second add was not a replay")
		}
		if c.seen(k("a"), 101) || c.len() != 0 {
			t.Fatal("still held after its window")
		}
	})
	t.Run("the same nonce of two doctors is two nonces", func(t *testing.T) {
		c := newNonceCache(10)
		c.add(k("a"), 100, 50)
		if replayed, _ := c.add(nonceKey{doctor: "other", nonce: "a"}, 100, 50); replayed {
			t.Fatal("another doctor's nonce counted as a replay")
		}
	})
	t.Run("a full cache refuses rather than forget a live nonce", func(t *testing.T) {
		c := newNonceCache(2)
		c.add(k("a"), 100, 50)
		c.add(k("b"), 200, 50)
		if _, full := c.add(k("c"), 300, 60); !full {
			t.Fatal("a third nonce fit in a cache of two")
		}
		if !c.seen(k("a"), 60) || !c.seen(k("b"), 60) {
			t.Fatal("a live nonce was forgotten")
		}
		if _, full := c.add(k("c"), 300, 150); full {
			t.Fatal("the expired nonce's slot was not freed")
		}
		if c.seen(k("a"), 150) || !c.seen(k("b"), 150) || !c.seen(k("c"), 150) {
			t.Fatal("eviction by time forgot the wrong nonce")
		}
	})
}
