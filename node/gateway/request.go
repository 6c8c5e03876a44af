package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
)

const (
	// FetchPath is the gateway's one endpoint.
	FetchPath = "/v1/fetch"
	// MaxRequestBytes bounds a fetch request body; a valid one is about
	// 400 bytes.
	MaxRequestBytes = 4 << 10
	// MaxClockSkew is how far a request's timestamp may be from the
	// gateway's clock, either way.
	MaxClockSkew = 2 * time.Minute
	// NonceSize is the size of a request nonce (32 lowercase hex digits).
	NonceSize = 16
	// maxChainIDBytes is CometBFT's limit on a chain id.
	maxChainIDBytes = 50
	// maxHospitalIDBytes bounds the hospital id bound into the signature.
	maxHospitalIDBytes = 64

	// signingDomain starts the bytes a doctor signs, so that a fetch
	// signature is never valid for anything else the doctor signs (txs).
	signingDomain = "medchain/gateway-fetch/v1\n"
)

// FetchRequest is the JSON body of POST /v1/fetch. Every field is
// required; DecodeFetchRequest refuses unknown, repeated or malformed ones.
type FetchRequest struct {
	ChainID  string `json:"chain_id"`
	AccessID uint64 `json:"access_id"`
	// RecordID is the record's on-chain id: 64 lowercase hex digits.
	RecordID string `json:"record_id"`
	// Doctor is the requesting doctor's account address.
	Doctor string `json:"doctor"`
	// Timestamp is the signing time, in Unix seconds.
	Timestamp int64 `json:"timestamp"`
	// Nonce is 16 random bytes in lowercase hex, fresh for every request.
	Nonce string `json:"nonce"`
	// Signature is the standard base64 of the doctor's ed25519 signature
	// over SigningBytes(request, gateway's hospital id).
	Signature string `json:"signature"`
}

// fetchFields are the JSON keys of a FetchRequest, each required once.
var fetchFields = []string{"chain_id", "access_id", "record_id", "doctor", "timestamp", "nonce", "signature"}

// SigningBytes returns the bytes a doctor signs for r, addressed to the
// gateway of hospital: the domain line "medchain/gateway-fetch/v1", then
// chain_id, hospital, access_id (decimal), record_id, doctor, timestamp
// (decimal Unix seconds) and nonce, each on its own line ending in "\n".
// Binding the hospital means a request for one gateway cannot be replayed
// to another. The signature field is not covered. Client and server share
// this function; callers validate r first (Validate), so that no field
// holds a newline.
func SigningBytes(r FetchRequest, hospital string) []byte {
	var b strings.Builder
	b.Grow(len(signingDomain) + 256)
	b.WriteString(signingDomain)
	for _, f := range []string{
		r.ChainID, hospital, strconv.FormatUint(r.AccessID, 10), r.RecordID, r.Doctor,
		strconv.FormatInt(r.Timestamp, 10), r.Nonce,
	} {
		b.WriteString(f)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// parsedRequest is a validated FetchRequest and its decoded fields.
type parsedRequest struct {
	FetchRequest
	recordID  [32]byte
	signature []byte
}

// Validate checks every field's format (not what the chain says about
// it). Errors name the field and say what a valid one looks like; they
// never echo the field's value.
func (r *FetchRequest) Validate() error {
	_, err := r.parse()
	return err
}

func (r *FetchRequest) parse() (*parsedRequest, error) {
	p := &parsedRequest{FetchRequest: *r}
	if err := checkChainID(r.ChainID); err != nil {
		return nil, err
	}
	if r.AccessID == 0 {
		return nil, errors.New("access_id is missing: give the id of the access entry the chain recorded for this read")
	}
	rid, err := records.ParseID("record_id", r.RecordID)
	if err != nil {
		return nil, fmt.Errorf("record_id: want the record's 64 lowercase hex digit id (got %d characters)", len(r.RecordID))
	}
	p.recordID = rid
	if _, err := pb.ParseAddress(r.Doctor); err != nil {
		return nil, fmt.Errorf("doctor: want the doctor's account address, %q followed by 40 lowercase hex digits", pb.AddressPrefix)
	}
	if r.Timestamp <= 0 {
		return nil, errors.New("timestamp is missing: give the signing time in Unix seconds")
	}
	if len(r.Nonce) != 2*NonceSize || !isLowerHex(r.Nonce) {
		return nil, fmt.Errorf("nonce: want %d random bytes as %d lowercase hex digits, fresh for every request", NonceSize, 2*NonceSize)
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(r.Signature)
	if err != nil || len(sig) != 64 {
		return nil, errors.New("signature: want the standard (padded) base64 of a 64-byte ed25519 signature")
	}
	p.signature = sig
	return p, nil
}

// checkChainID accepts 1 to 50 printable ASCII characters without spaces.
func checkChainID(s string) error {
	if s == "" || len(s) > maxChainIDBytes {
		return fmt.Errorf("chain_id: want the chain's id, 1 to %d characters (got %d)", maxChainIDBytes, len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return errors.New("chain_id: only printable ASCII characters without spaces are allowed")
		}
	}
	return nil
}

// checkHospitalID accepts what a signature line and a tx search query can
// hold unambiguously: 1 to 64 printable ASCII characters, no spaces,
// quotes or backslashes. (Genesis ids are narrower still: [a-z0-9-].)
func checkHospitalID(s string) error {
	if s == "" || len(s) > maxHospitalIDBytes {
		return fmt.Errorf("hospital id: want 1 to %d characters (got %d)", maxHospitalIDBytes, len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '\'' || c == '"' || c == '\\' {
			return errors.New("hospital id: only printable ASCII characters without spaces, quotes or backslashes are allowed")
		}
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ErrBodyTooLarge is returned by DecodeFetchRequest for a body over
// MaxRequestBytes.
var ErrBodyTooLarge = fmt.Errorf("request body is larger than %d bytes", MaxRequestBytes)

// DecodeFetchRequest parses a POST /v1/fetch body strictly: one JSON
// object holding exactly the FetchRequest fields, each once, with their
// exact (lowercase) names, and nothing after it; then Validate. Errors say
// which key or field is wrong.
func DecodeFetchRequest(body []byte) (*FetchRequest, error) {
	p, err := decodeFetchRequest(body)
	if err != nil {
		return nil, err
	}
	r := p.FetchRequest
	return &r, nil
}

func decodeFetchRequest(body []byte) (*parsedRequest, error) {
	if len(body) > MaxRequestBytes {
		return nil, ErrBodyTooLarge
	}
	if err := checkKeys(body); err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	var r FetchRequest
	if err := d.Decode(&r); err != nil {
		return nil, fmt.Errorf("request body: %s", jsonProblem(err))
	}
	return r.parse()
}

// checkKeys walks the top-level object and refuses a key that is not a
// FetchRequest field spelt exactly, a repeated key, a missing key, and
// anything after the object. (encoding/json alone matches keys without
// regard to case and lets the last of two equal keys win.)
func checkKeys(body []byte) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	tok, err := d.Token()
	if err != nil {
		return fmt.Errorf("request body is not JSON: %s", jsonProblem(err))
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '{' {
		return errors.New("request body: want one JSON object {\"chain_id\": …, \"access_id\": …, …}")
	}
	seen := make(map[string]bool, len(fetchFields))
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return fmt.Errorf("request body: %s", jsonProblem(err))
		}
		key, _ := tok.(string) // object keys are always strings
		known := false
		for _, f := range fetchFields {
			known = known || f == key
		}
		switch {
		case !known:
			return fmt.Errorf("request body: unknown key %s; the keys are %s", quoteKey(key), strings.Join(fetchFields, ", "))
		case seen[key]:
			return fmt.Errorf("request body: key %q appears twice", key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			return fmt.Errorf("request body: value of %q: %s", key, jsonProblem(err))
		}
	}
	if _, err := d.Token(); err != nil { // the closing brace
		return fmt.Errorf("request body: %s", jsonProblem(err))
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("request body: data after the JSON object; send exactly one object")
	}
	for _, f := range fetchFields {
		if !seen[f] {
			return fmt.Errorf("request body: key %q is missing; the keys are %s", f, strings.Join(fetchFields, ", "))
		}
	}
	return nil
}

// jsonProblem describes a decoding error without quoting the input.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		want := "value of another type"
		switch typ.Type.Kind() {
		case reflect.String:
			want = "string"
		case reflect.Uint64:
			want = "whole number from 1 to 18446744073709551615"
		case reflect.Int64:
			want = "whole number of Unix seconds"
		}
		return fmt.Sprintf("field %q must be a JSON %s", typ.Field, want)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON ends too early"
	}
	return "invalid JSON"
}

// quoteKey quotes a client-supplied key, cut short.
func quoteKey(k string) string {
	if len(k) > 32 {
		return strconv.Quote(k[:32]) + "…"
	}
	return strconv.Quote(k)
}

// formatNonce formats NonceSize random bytes as a request nonce.
func formatNonce(b [NonceSize]byte) string { return hex.EncodeToString(b[:]) }
