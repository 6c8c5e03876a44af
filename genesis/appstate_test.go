package genesis

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/medchain/medchain/contracts/pb"
)

// pubKey derives a reproducible ed25519 public key from a name.
func pubKey(name string) []byte {
	seed := sha256.Sum256([]byte("genesis test key/" + name))
	return ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
}

// validState is a two-hospital alliance with a researcher and an auditor.
func validState() *AppState {
	return &AppState{
		Alliance: "North Alliance",
		Hospitals: []Hospital{
			{ID: "h1", Name: "St Mary's", ValidatorPubKey: pubKey("val1"), Power: 10, OperatorPubKey: pubKey("op1")},
			{ID: "h2", Name: "General", ValidatorPubKey: pubKey("val2"), Power: 20, OperatorPubKey: pubKey("op2")},
		},
		Accounts: []Account{
			{PubKey: pubKey("researcher"), Role: "researcher", Label: "lab"},
			{PubKey: pubKey("auditor"), Role: "auditor", Label: "audit office"},
		},
		Params: DefaultParams(),
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	bz, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bz
}

// editJSON decodes raw into generic JSON, lets edit change it, and encodes it.
func editJSON(t *testing.T, raw []byte, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	return mustJSON(t, m)
}

func TestParseAppStateAcceptsAValidState(t *testing.T) {
	want := validState()
	raw := mustJSON(t, want)
	for name, in := range map[string][]byte{
		"compact":                 raw,
		"with surrounding spaces": append(append([]byte("\n  "), raw...), " \n"...),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ParseAppState(in)
			if err != nil {
				t.Fatalf("ParseAppState: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
	t.Run("an alliance with no initial accounts is valid", func(t *testing.T) {
		s := validState()
		s.Accounts = nil
		if _, err := ParseAppState(mustJSON(t, s)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestParseAppStateRejects(t *testing.T) {
	valid := mustJSON(t, validState())
	// state returns valid JSON of validState after edit.
	state := func(edit func(s *AppState)) []byte {
		s := validState()
		edit(s)
		return mustJSON(t, s)
	}
	hospital := func(i int, edit func(h map[string]any)) []byte {
		return editJSON(t, valid, func(m map[string]any) { edit(m["hospitals"].([]any)[i].(map[string]any)) })
	}

	tests := []struct {
		name string
		raw  []byte
		// path is what the error must mention: the offending entry.
		path string
	}{
		{"empty input is refused", nil, "empty"},
		{"blank input is refused", []byte(" \n\t"), "empty"},
		{"input that is not JSON is refused", []byte("alliance: x"), "invalid character"},
		{"a JSON array is refused", []byte("[]"), "array"},
		{"an unknown top-level field is refused", editJSON(t, valid, func(m map[string]any) { m["colour"] = "blue" }), "colour"},
		{"an unknown field in a hospital is refused with its path", hospital(1, func(h map[string]any) { h["colour"] = "blue" }), "hospitals[1].colour"},
		{"an unknown field in params is refused with its path", editJSON(t, valid, func(m map[string]any) { m["params"].(map[string]any)["max_gas"] = 1 }), "params.max_gas"},
		{"an unknown field in an account is refused with its path", editJSON(t, valid, func(m map[string]any) { m["accounts"].([]any)[0].(map[string]any)["hospital"] = "h1" }), "accounts[0].hospital"},
		{"a power that is a string is refused", hospital(0, func(h map[string]any) { h["power"] = "ten" }), "power"},
		{"a public key that is not base64 is refused", hospital(0, func(h map[string]any) { h["validator_pubkey"] = "not base64!" }), "base64"},
		{"trailing data after the object is refused", append(bytes.Clone(valid), []byte(`{"alliance":"x"}`)...), "trailing data"},
		{"a trailing bracket is refused", append(bytes.Clone(valid), '}'), "trailing data"},

		{"an empty alliance name is refused", state(func(s *AppState) { s.Alliance = "" }), "alliance"},
		{"an alliance name over 128 bytes is refused", state(func(s *AppState) { s.Alliance = strings.Repeat("a", 129) }), "alliance"},
		{"an alliance without hospitals is refused", state(func(s *AppState) { s.Hospitals = nil }), "hospitals"},

		{"a max_tx_bytes of zero is refused", state(func(s *AppState) { s.Params.MaxTxBytes = 0 }), "params.max_tx_bytes"},
		{"a max_tx_bytes over 8 MiB is refused", state(func(s *AppState) { s.Params.MaxTxBytes = 8<<20 + 1 }), "params.max_tx_bytes"},
		{"a max_memo_bytes of zero is refused", state(func(s *AppState) { s.Params.MaxMemoBytes = 0 }), "params.max_memo_bytes"},
		{"a max_memo_bytes over max_tx_bytes is refused", state(func(s *AppState) { s.Params.MaxMemoBytes = s.Params.MaxTxBytes + 1 }), "params.max_memo_bytes"},
		{"a max_label_bytes of zero is refused", state(func(s *AppState) { s.Params.MaxLabelBytes = 0 }), "params.max_label_bytes"},
		{"a max_label_bytes over 1024 is refused", state(func(s *AppState) { s.Params.MaxLabelBytes = 1025 }), "params.max_label_bytes"},

		{"a hospital id with capitals is refused", state(func(s *AppState) { s.Hospitals[1].ID = "H2" }), `hospitals[1] ("H2"): id`},
		{"an empty hospital id is refused", state(func(s *AppState) { s.Hospitals[0].ID = "" }), `hospitals[0] (""): id`},
		{"a duplicate hospital id is refused", state(func(s *AppState) { s.Hospitals[1].ID = "h1" }), `hospitals[1] ("h1"): duplicate id`},
		{"an empty hospital name is refused", state(func(s *AppState) { s.Hospitals[0].Name = "" }), `hospitals[0] ("h1"): name`},
		{"a hospital name over max_label_bytes is refused", state(func(s *AppState) { s.Hospitals[0].Name = strings.Repeat("n", 129) }), `hospitals[0] ("h1"): name`},
		{"a 31-byte validator key is refused", state(func(s *AppState) { s.Hospitals[0].ValidatorPubKey = s.Hospitals[0].ValidatorPubKey[:31] }), `hospitals[0] ("h1"): validator_pubkey is 31 bytes`},
		{"a missing validator key is refused", state(func(s *AppState) { s.Hospitals[1].ValidatorPubKey = nil }), `hospitals[1] ("h2"): validator_pubkey is 0 bytes`},
		{"a validator key used twice is refused", state(func(s *AppState) { s.Hospitals[1].ValidatorPubKey = s.Hospitals[0].ValidatorPubKey }), `hospitals[1] ("h2"): validator key used twice`},
		{"a zero power is refused", state(func(s *AppState) { s.Hospitals[0].Power = 0 }), `hospitals[0] ("h1"): power 0`},
		{"a negative power is refused", state(func(s *AppState) { s.Hospitals[1].Power = -5 }), `hospitals[1] ("h2"): power -5`},
		{"a power over 2^40 is refused", state(func(s *AppState) { s.Hospitals[1].Power = 1<<40 + 1 }), `hospitals[1] ("h2"): power`},
		{"a 33-byte operator key is refused", state(func(s *AppState) { s.Hospitals[1].OperatorPubKey = append(s.Hospitals[1].OperatorPubKey, 0) }), `hospitals[1] ("h2").operator_pubkey: public key is 33 bytes`},
		{"two hospitals with one operator are refused", state(func(s *AppState) { s.Hospitals[1].OperatorPubKey = s.Hospitals[0].OperatorPubKey }), `hospitals[1] ("h2").operator_pubkey: account`},

		{"an account without a key is refused", state(func(s *AppState) { s.Accounts[0].PubKey = nil }), "accounts[0]: public key is 0 bytes"},
		{"a duplicate account is refused", state(func(s *AppState) { s.Accounts[1].PubKey = s.Accounts[0].PubKey }), "accounts[1]: account"},
		{"an account that is also an operator is refused", state(func(s *AppState) { s.Accounts[0].PubKey = s.Hospitals[1].OperatorPubKey }), "accounts[0]: account"},
		{"an unknown role is refused", state(func(s *AppState) { s.Accounts[1].Role = "superuser" }), `accounts[1]: role "superuser"`},
		{"a doctor at genesis is refused", state(func(s *AppState) { s.Accounts[0].Role = "doctor" }), `accounts[0]: role "doctor"`},
		{"a role in capitals is refused", state(func(s *AppState) { s.Accounts[0].Role = "Researcher" }), `accounts[0]: role "Researcher"`},
		{"a label over max_label_bytes is refused", state(func(s *AppState) { s.Accounts[1].Label = strings.Repeat("l", 129) }), "accounts[1]: label"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseAppState(tt.raw)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseAppState = %+v, %v; want ErrInvalid", s, err)
			}
			if s != nil {
				t.Errorf("ParseAppState returned a state with its error")
			}
			if !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %q does not mention %q", err, tt.path)
			}
		})
	}
}

func TestRoleFromString(t *testing.T) {
	tests := []struct {
		in   string
		want pb.Role
		ok   bool
	}{
		{"researcher", pb.Role_ROLE_RESEARCHER, true},
		{"auditor", pb.Role_ROLE_AUDITOR, true},
		{"operator", pb.Role_ROLE_UNSPECIFIED, false},
		{"patient", pb.Role_ROLE_UNSPECIFIED, false},
		{"", pb.Role_ROLE_UNSPECIFIED, false},
	}
	for _, tt := range tests {
		name := "genesis role " + tt.in + " is refused"
		if tt.ok {
			name = "genesis role " + tt.in + " is " + tt.want.String()
		}
		t.Run(name, func(t *testing.T) {
			got, err := RoleFromString(tt.in)
			if got != tt.want || tt.ok != (err == nil) {
				t.Fatalf("RoleFromString(%q) = %v, %v", tt.in, got, err)
			}
		})
	}
}

func TestParamsProtoCarriesEveryField(t *testing.T) {
	p := Params{MaxTxBytes: 1, MaxMemoBytes: 2, MaxLabelBytes: 3}
	got := p.Proto()
	if got.MaxTxBytes != 1 || got.MaxMemoBytes != 2 || got.MaxLabelBytes != 3 {
		t.Fatalf("Proto = %v", got)
	}
	if err := (&AppState{Alliance: "a", Hospitals: validState().Hospitals, Params: DefaultParams()}).Validate(); err != nil {
		t.Fatalf("DefaultParams are not valid: %v", err)
	}
}

// FuzzParseAppState: the parser never panics, and what it accepts is valid
// and survives a JSON round trip unchanged.
func FuzzParseAppState(f *testing.F) {
	valid, err := json.Marshal(validState())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte(`{"alliance":"a","hospitals":[],"params":{}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add(append(bytes.Clone(valid), ' ', '1'))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := ParseAppState(raw)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted an invalid state: %v", err)
		}
		again, err := ParseAppState(mustJSON(t, s))
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("accepted state does not round-trip: %v", err)
		}
	})
}
