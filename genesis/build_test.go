package genesis

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cometbft/cometbft/crypto/ed25519"
)

func members(s *AppState) []Member {
	out := make([]Member, len(s.Hospitals))
	for i, h := range s.Hospitals {
		out[i] = Member{Hospital: h, NodeID: strings.Repeat("ab", 20), P2PAddress: "10.0.0.1:26656"}
	}
	return out
}

func TestBuildMakesADocWhoseValidatorsAreTheHospitals(t *testing.T) {
	s := validState()
	when := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	doc, err := Build("medchain-1", s.Alliance, members(s), s.Accounts, s.Params, when)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}

	if doc.ChainID != "medchain-1" || doc.InitialHeight != 1 {
		t.Errorf("chain id %q, initial height %d", doc.ChainID, doc.InitialHeight)
	}
	if !doc.GenesisTime.Equal(when) || doc.GenesisTime.Location() != time.UTC {
		t.Errorf("genesis time %v, want %v in UTC", doc.GenesisTime, when)
	}
	if len(doc.Validators) != len(s.Hospitals) {
		t.Fatalf("%d validators for %d hospitals", len(doc.Validators), len(s.Hospitals))
	}
	for i, h := range s.Hospitals {
		v := doc.Validators[i]
		t.Run("validator "+h.ID+" is its hospital's key and power", func(t *testing.T) {
			pk, ok := v.PubKey.(ed25519.PubKey)
			if !ok || !bytes.Equal(pk, h.ValidatorPubKey) {
				t.Errorf("pubkey %v, want %X", v.PubKey, h.ValidatorPubKey)
			}
			if v.Power != h.Power || v.Name != h.ID {
				t.Errorf("power %d name %q, want %d %q", v.Power, v.Name, h.Power, h.ID)
			}
			if !bytes.Equal(v.Address, ed25519.PubKey(h.ValidatorPubKey).Address()) {
				t.Errorf("address %X is not the key's", v.Address)
			}
		})
	}
	t.Run("the app state parses back to the input", func(t *testing.T) {
		got, err := ParseAppState(doc.AppState)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Fatalf("app state %+v, want %+v", got, s)
		}
	})
	t.Run("blocks may hold large ciphertexts", func(t *testing.T) {
		if doc.ConsensusParams.Block.MaxBytes < 16<<20 {
			t.Fatalf("block max bytes %d", doc.ConsensusParams.Block.MaxBytes)
		}
	})
	t.Run("the same inputs build the same document", func(t *testing.T) {
		again, err := Build("medchain-1", s.Alliance, members(s), s.Accounts, s.Params, when)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.AppState, doc.AppState) {
			t.Fatal("app state differs between two builds")
		}
	})
}

func TestBuildRejects(t *testing.T) {
	s := validState()
	dup := members(s)
	dup[1].ID = dup[0].ID
	tests := []struct {
		name     string
		chainID  string
		members  []Member
		params   Params
		wantInvl bool // the error wraps ErrInvalid
	}{
		{"no members is refused", "medchain-1", nil, s.Params, true},
		{"two members with one id are refused", "medchain-1", dup, s.Params, true},
		{"bad params are refused", "medchain-1", members(s), Params{}, true},
		{"an empty chain id is refused", "", members(s), s.Params, false},
		{"a chain id over 50 characters is refused", strings.Repeat("c", 51), members(s), s.Params, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Build(tt.chainID, s.Alliance, tt.members, s.Accounts, tt.params, time.Unix(0, 0))
			if err == nil || doc != nil {
				t.Fatalf("Build = %v, %v; want an error", doc, err)
			}
			if errors.Is(err, ErrInvalid) != tt.wantInvl {
				t.Fatalf("err %v: wraps ErrInvalid = %v, want %v", err, errors.Is(err, ErrInvalid), tt.wantInvl)
			}
		})
	}
}

func TestLoadReadsWhatBuildWrote(t *testing.T) {
	s := validState()
	doc, err := Build("medchain-1", s.Alliance, members(s), s.Accounts, s.Params, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "genesis.json")
	if err := doc.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	got, state, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got.ChainID != doc.ChainID || len(got.Validators) != 2 || !reflect.DeepEqual(state, s) {
		t.Fatalf("Load = %v, %+v", got.ChainID, state)
	}

	t.Run("a genesis file with a bad app state is refused", func(t *testing.T) {
		doc.AppState = []byte(`{"alliance":"x"}`)
		bad := filepath.Join(t.TempDir(), "genesis.json")
		if err := doc.SaveAs(bad); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Load(bad); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), bad) {
			t.Fatalf("Load = %v, want ErrInvalid naming the file", err)
		}
	})
	t.Run("a missing genesis file is refused", func(t *testing.T) {
		if _, _, err := Load(filepath.Join(t.TempDir(), "absent.json")); err == nil {
			t.Fatal("Load of a missing file succeeded")
		}
	})
}

func TestReadMember(t *testing.T) {
	s := validState()
	good := mustJSON(t, members(s)[0])
	tests := []struct {
		name  string
		raw   []byte
		inErr string // "" = accepted
	}{
		{"a member file is read", good, ""},
		{"an unknown field is refused", editJSON(t, good, func(m map[string]any) { m["role"] = "x" }), `unknown field "role"`},
		{"trailing data is refused", append(bytes.Clone(good), "{}"...), "trailing data"},
		{"a file that is not JSON is refused", []byte("node_id = 1"), "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "member.json")
			if err := os.WriteFile(path, tt.raw, 0o600); err != nil {
				t.Fatal(err)
			}
			m, err := ReadMember(path)
			if tt.inErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(*m, members(s)[0]) {
					t.Fatalf("ReadMember = %+v", m)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.inErr) || !strings.Contains(err.Error(), path) {
				t.Fatalf("ReadMember = %v, want an error naming the file and %q", err, tt.inErr)
			}
		})
	}
}

func TestMemberPeer(t *testing.T) {
	tests := []struct {
		name string
		m    Member
		want string
	}{
		{"a member with id and address is id@address", Member{NodeID: "abc", P2PAddress: "h:1"}, "abc@h:1"},
		{"a member without an address is no peer", Member{NodeID: "abc"}, ""},
		{"a member without an id is no peer", Member{P2PAddress: "h:1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.Peer(); got != tt.want {
				t.Fatalf("Peer = %q, want %q", got, tt.want)
			}
		})
	}
}
