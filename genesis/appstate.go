package genesis

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/he"
)

// AppState is the medchain section ("app_state") of the genesis file.
type AppState struct {
	// Alliance is a human-readable name for the alliance.
	Alliance  string     `json:"alliance"`
	Hospitals []Hospital `json:"hospitals"`
	Accounts  []Account  `json:"accounts,omitempty"`
	Params    Params     `json:"params"`
	// HE configures the multiparty homomorphic encryption; without it the
	// alliance has no collective key and no encrypted research.
	HE *HE `json:"he,omitempty"`
	// Research sets the rules of encrypted research queries; it needs HE.
	Research *Research `json:"research,omitempty"`
	// Governance sets the rules of the members' votes; without it a
	// proposal has DefaultGovernance's deadline.
	Governance *Governance `json:"governance,omitempty"`
}

// Governance is the alliance's rules for proposals (see pb.GovParams).
type Governance struct {
	// VotingDeadlineBlocks: a proposal undecided this many blocks after
	// the block it was made in expires.
	VotingDeadlineBlocks uint64 `json:"voting_deadline_blocks"`
}

// DefaultGovernance gives members 50 blocks to vote.
func DefaultGovernance() *Governance { return &Governance{VotingDeadlineBlocks: 50} }

// MaxVotingDeadlineBlocks bounds voting_deadline_blocks.
const MaxVotingDeadlineBlocks = 100_000

// Proto returns the state form of g.
func (g *Governance) Proto() *pb.GovParams {
	return &pb.GovParams{VotingDeadlineBlocks: g.VotingDeadlineBlocks}
}

// CheckHospitalID says what is wrong with a hospital id, or returns nil.
func CheckHospitalID(id string) error {
	if !hospitalIDPattern.MatchString(id) {
		return fmt.Errorf("hospital id %q must match %s", id, hospitalIDPattern)
	}
	return nil
}

// Research is the alliance's rules for research queries (see
// pb.ResearchParams).
type Research struct {
	MinCohort                  uint64 `json:"min_cohort"`
	ContributionDeadlineBlocks uint64 `json:"contribution_deadline_blocks"`
	BudgetMicro                uint64 `json:"budget_micro"`
	MaxPatients                uint64 `json:"max_patients"`
	// DPOff makes results exact and noise-free: for test alliances only.
	DPOff bool `json:"dp_off,omitempty"`
	// PlaintextBaseline lets researchers submit plaintext-baseline queries
	// (hospitals post plaintext figures), so a benchmark can measure the
	// cost of encryption side by side: for benchmark alliances only; it
	// needs DPOff.
	PlaintextBaseline bool `json:"plaintext_baseline,omitempty"`
}

// DefaultResearch: release only cohorts of at least 11 (noised), 20 blocks
// for contributions, a budget of ρ = 10 per researcher, up to 2^24 persons.
func DefaultResearch() *Research {
	return &Research{MinCohort: 11, ContributionDeadlineBlocks: 20, BudgetMicro: 10_000_000, MaxPatients: 1 << 24}
}

// Proto returns the state form of r.
func (r *Research) Proto() *pb.ResearchParams {
	return &pb.ResearchParams{MinCohort: r.MinCohort, ContributionDeadlineBlocks: r.ContributionDeadlineBlocks,
		BudgetMicro: r.BudgetMicro, MaxPatients: r.MaxPatients, DpOff: r.DPOff, PlaintextBaseline: r.PlaintextBaseline}
}

// HE pins the homomorphic-encryption parameters (explicit primes, so every
// node builds identical parameters) and the t-of-N rules.
type HE struct {
	Params he.ParamsLiteral `json:"params"`
	// Threshold is how many members take part in each decryption.
	Threshold uint32 `json:"threshold"`
	// ShareDeadlineBlocks is how long a decryption request waits for its
	// active set's shares before it fails for good.
	ShareDeadlineBlocks uint64 `json:"share_deadline_blocks"`
}

// DefaultHE is the HE section for an alliance of n members: he's pinned
// parameters and t = n − ⌊(n−1)/3⌋, so decryption survives as many members
// down as consensus does.
func DefaultHE(n int) *HE {
	return &HE{Params: he.DefaultLiteral(), Threshold: uint32(n - (n-1)/3), ShareDeadlineBlocks: 50}
}

// Proto returns the state form of h.
func (h *HE) Proto() *pb.HEParams {
	return &pb.HEParams{LogN: uint32(h.Params.LogN), Q: h.Params.Q, T: h.Params.T, Threshold: h.Threshold, ShareDeadlineBlocks: h.ShareDeadlineBlocks}
}

// Hospital is a founding member.
type Hospital struct {
	// ID is short and stable ("h1", "st-marys"); it keys the hospital in state.
	ID              string `json:"id"`
	Name            string `json:"name"`
	ValidatorPubKey []byte `json:"validator_pubkey"` // ed25519, base64 in JSON
	Power           int64  `json:"power"`
	// OperatorPubKey is the ed25519 key of the hospital's operator account.
	OperatorPubKey []byte `json:"operator_pubkey"`
	// SealPubKey is the X25519 key other members seal key shares to;
	// required when the alliance has an "he" section.
	SealPubKey []byte `json:"seal_pubkey,omitempty"`
}

// Account is an initial alliance-wide account (researcher or auditor).
type Account struct {
	PubKey []byte `json:"pubkey"`
	Role   string `json:"role"` // "researcher" or "auditor"
	Label  string `json:"label"`
}

// Params are the alliance parameters at genesis.
type Params struct {
	MaxTxBytes    uint64 `json:"max_tx_bytes"`
	MaxMemoBytes  uint64 `json:"max_memo_bytes"`
	MaxLabelBytes uint64 `json:"max_label_bytes"`
}

// DefaultParams are used by `medchain init` and localnet.
func DefaultParams() Params {
	return Params{MaxTxBytes: 4 << 20, MaxMemoBytes: 1024, MaxLabelBytes: 128}
}

// Proto returns the state form of p.
func (p Params) Proto() *pb.Params {
	return &pb.Params{MaxTxBytes: p.MaxTxBytes, MaxMemoBytes: p.MaxMemoBytes, MaxLabelBytes: p.MaxLabelBytes}
}

// ErrInvalid wraps every validation failure.
var ErrInvalid = errors.New("invalid genesis app_state")

var hospitalIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// ParseAppState decodes raw JSON strictly and validates it.
func ParseAppState(raw []byte) (*AppState, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, fmt.Errorf("%w: app_state is empty; build the genesis with `medchain init` or `medchain genesis build`", ErrInvalid)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var s AppState
	if err := dec.Decode(&s); err != nil {
		if path := unknownFieldPath(raw, err, reflect.TypeFor[AppState]()); path != "" {
			return nil, fmt.Errorf("%w: unknown field %s", ErrInvalid, path)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the app_state object", ErrInvalid)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// RoleFromString maps the genesis role names to roles.
func RoleFromString(s string) (pb.Role, error) {
	switch s {
	case "researcher":
		return pb.Role_ROLE_RESEARCHER, nil
	case "auditor":
		return pb.Role_ROLE_AUDITOR, nil
	}
	return pb.Role_ROLE_UNSPECIFIED, fmt.Errorf("role %q: genesis accounts are \"researcher\" or \"auditor\" (hospitals enrol doctors and patients on chain)", s)
}

// Validate checks every rule; the error names the offending entry.
func (s *AppState) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	if s.Alliance == "" || len(s.Alliance) > 128 {
		return bad("alliance: name must be 1 to 128 bytes")
	}
	if len(s.Hospitals) == 0 {
		return bad("hospitals: at least one member hospital is needed")
	}
	p := s.Params
	if p.MaxTxBytes < 1024 || p.MaxTxBytes > 8<<20 {
		return bad("params.max_tx_bytes: %d is outside [1024, %d]", p.MaxTxBytes, 8<<20)
	}
	if p.MaxMemoBytes == 0 || p.MaxMemoBytes > p.MaxTxBytes {
		return bad("params.max_memo_bytes: %d must be in [1, max_tx_bytes]", p.MaxMemoBytes)
	}
	if p.MaxLabelBytes == 0 || p.MaxLabelBytes > 1024 {
		return bad("params.max_label_bytes: %d must be in [1, 1024]", p.MaxLabelBytes)
	}
	ids, vals, addrs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	useAddr := func(where string, pub []byte) error {
		if len(pub) != ed25519.PublicKeySize {
			return bad("%s: public key is %d bytes, want %d", where, len(pub), ed25519.PublicKeySize)
		}
		a := pb.AddressOf(pub)
		if addrs[a] {
			return bad("%s: account %s appears twice", where, a)
		}
		addrs[a] = true
		return nil
	}
	for i, h := range s.Hospitals {
		where := fmt.Sprintf("hospitals[%d] (%q)", i, h.ID)
		switch {
		case !hospitalIDPattern.MatchString(h.ID):
			return bad("%s: id must match %s", where, hospitalIDPattern)
		case ids[h.ID]:
			return bad("%s: duplicate id", where)
		case h.Name == "" || uint64(len(h.Name)) > p.MaxLabelBytes:
			return bad("%s: name must be 1 to %d bytes", where, p.MaxLabelBytes)
		case len(h.ValidatorPubKey) != ed25519.PublicKeySize:
			return bad("%s: validator_pubkey is %d bytes, want %d", where, len(h.ValidatorPubKey), ed25519.PublicKeySize)
		case vals[string(h.ValidatorPubKey)]:
			return bad("%s: validator key used twice", where)
		case h.Power <= 0 || h.Power > 1<<40:
			return bad("%s: power %d must be positive", where, h.Power)
		}
		ids[h.ID], vals[string(h.ValidatorPubKey)] = true, true
		if err := useAddr(where+".operator_pubkey", h.OperatorPubKey); err != nil {
			return err
		}
	}
	if r := s.Research; r != nil {
		switch {
		case s.HE == nil:
			return bad("research: needs an he section (queries are answered under the collective key)")
		case r.MinCohort < 1 || r.MinCohort > 1_000_000:
			return bad("research.min_cohort: %d must be in [1, 1000000]", r.MinCohort)
		case r.ContributionDeadlineBlocks < 1 || r.ContributionDeadlineBlocks > 100_000:
			return bad("research.contribution_deadline_blocks: %d must be in [1, 100000]", r.ContributionDeadlineBlocks)
		case r.MaxPatients < 1 || r.MaxPatients > 1<<32:
			return bad("research.max_patients: %d must be in [1, 2^32]", r.MaxPatients)
		case r.BudgetMicro > 1<<50:
			return bad("research.budget_micro: %d is too large", r.BudgetMicro)
		case r.PlaintextBaseline && !r.DPOff:
			return bad("research.plaintext_baseline: needs dp_off too (the baseline measures the cost of encryption, not of noise; both are for benchmark and test alliances only)")
		}
	}
	if g := s.Governance; g != nil && (g.VotingDeadlineBlocks < 1 || g.VotingDeadlineBlocks > MaxVotingDeadlineBlocks) {
		return bad("governance.voting_deadline_blocks: %d must be in [1, %d]", g.VotingDeadlineBlocks, MaxVotingDeadlineBlocks)
	}
	if s.HE != nil {
		if _, err := he.NewParams(s.HE.Params); err != nil {
			return bad("he.params: %v", err)
		}
		if s.HE.Threshold < 1 || int(s.HE.Threshold) > len(s.Hospitals) {
			return bad("he.threshold: %d must be in [1, %d hospitals]", s.HE.Threshold, len(s.Hospitals))
		}
		if s.HE.ShareDeadlineBlocks < 1 || s.HE.ShareDeadlineBlocks > 100_000 {
			return bad("he.share_deadline_blocks: %d must be in [1, 100000]", s.HE.ShareDeadlineBlocks)
		}
		seals := map[string]bool{}
		for i, h := range s.Hospitals {
			if len(h.SealPubKey) != 32 {
				return bad("hospitals[%d] (%q).seal_pubkey: is %d bytes, want 32 (an X25519 key; `medchain init` makes one)", i, h.ID, len(h.SealPubKey))
			}
			if seals[string(h.SealPubKey)] {
				return bad("hospitals[%d] (%q).seal_pubkey: used twice", i, h.ID)
			}
			seals[string(h.SealPubKey)] = true
		}
	}
	for i, a := range s.Accounts {
		where := fmt.Sprintf("accounts[%d]", i)
		if _, err := RoleFromString(a.Role); err != nil {
			return bad("%s: %v", where, err)
		}
		if uint64(len(a.Label)) > p.MaxLabelBytes {
			return bad("%s: label longer than %d bytes", where, p.MaxLabelBytes)
		}
		if err := useAddr(where, a.PubKey); err != nil {
			return err
		}
	}
	return nil
}

// unknownFieldPath turns encoding/json's `unknown field "k"` error, which
// names the key only, into the key's path in raw ("hospitals[1].k"), so the
// operator can find it. It returns "" for any other error.
func unknownFieldPath(raw []byte, decodeErr error, t reflect.Type) string {
	name, ok := strings.CutPrefix(decodeErr.Error(), "json: unknown field ")
	if !ok {
		return ""
	}
	name, err := strconv.Unquote(name)
	if err != nil {
		return ""
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	return findUnknownField(v, t, "", name)
}

// findUnknownField returns the path of the first key called name in v that
// no field of t takes, or "".
func findUnknownField(v any, t reflect.Type, path, name string) string {
	switch t.Kind() {
	case reflect.Struct:
		obj, _ := v.(map[string]any)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			f, ok := jsonField(t, k)
			if !ok && k == name {
				return p
			}
			if ok {
				if found := findUnknownField(obj[k], f.Type, p, name); found != "" {
					return found
				}
			}
		}
	case reflect.Slice:
		arr, _ := v.([]any)
		for i, e := range arr {
			if found := findUnknownField(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), name); found != "" {
				return found
			}
		}
	}
	return ""
}

// jsonField finds the field of struct t that encoding/json decodes key into
// (the tag name, matched without regard to case as encoding/json does).
func jsonField(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "" {
			tag = f.Name
		}
		if f.IsExported() && tag != "-" && strings.EqualFold(tag, key) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
