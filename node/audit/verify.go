package audit

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cometbft/cometbft/light"
	"github.com/cometbft/cometbft/types"
	ics23 "github.com/cosmos/ics23/go"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci"
	"github.com/medchain/medchain/abci/store"
	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
)

// EntryKind is what kind of on-chain record `audit verify` proves.
type EntryKind string

const (
	EntryAccess EntryKind = "access" // an access entry (pb.AccessEntry)
	EntryGrant  EntryKind = "grant"  // a grant or forward (pb.Grant)
	EntryQuery  EntryKind = "query"  // a research query (pb.ResearchQuery)
)

// Entry names one record: "access:12", "grant:3", "query:1".
type Entry struct {
	Kind EntryKind
	ID   uint64
}

// ParseEntry reads KIND:ID (KIND access, grant or query; ID a positive
// decimal number).
func ParseEntry(s string) (Entry, error) {
	kind, id, ok := strings.Cut(s, ":")
	if !ok {
		return Entry{}, fmt.Errorf("--entry %q: give KIND:ID, e.g. access:12, grant:3 or query:1", short(s))
	}
	e := Entry{Kind: EntryKind(kind)}
	switch e.Kind {
	case EntryAccess, EntryGrant, EntryQuery:
	default:
		return Entry{}, fmt.Errorf("--entry %q: kind %q is not access, grant or query", short(s), short(kind))
	}
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil || n == 0 || id != strconv.FormatUint(n, 10) {
		return Entry{}, fmt.Errorf("--entry %q: id %q is not a positive decimal number (ids start at 1)", short(s), short(id))
	}
	e.ID = n
	return e, nil
}

func short(s string) string {
	if len(s) <= 40 {
		return s
	}
	cut := 40
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func (e Entry) String() string { return string(e.Kind) + ":" + strconv.FormatUint(e.ID, 10) }

// Path is the query path of the entry.
func (e Entry) Path() string {
	id := strconv.FormatUint(e.ID, 10)
	switch e.Kind {
	case EntryAccess:
		return "/records/access/" + id
	case EntryGrant:
		return "/records/grant/" + id
	}
	return "/research/query/" + id
}

// Key is the entry's state key, computed here (never taken from a node).
func (e Entry) Key() ([]byte, error) { return abci.KeyForPath(e.Path()) }

// decode parses the entry's state record and checks it is the entry asked
// for.
func (e Entry) decode(value []byte) (proto.Message, error) {
	var m proto.Message
	var id func() uint64
	switch e.Kind {
	case EntryAccess:
		a := &pb.AccessEntry{}
		m, id = a, a.GetId
	case EntryGrant:
		g := &pb.Grant{}
		m, id = g, g.GetId
	default:
		q := &pb.ResearchQuery{}
		m, id = q, q.GetId
	}
	if err := tx.Unmarshal(value, m); err != nil {
		return nil, fmt.Errorf("the proved value does not decode as %s: %v", e.Kind, err)
	}
	if id() != e.ID {
		return nil, fmt.Errorf("the proved value is %s %d, not %d", e.Kind, id(), e.ID)
	}
	return m, nil
}

// Evidence is everything `audit verify` checks, fetched from a node's RPC
// (FetchEvidenceRPC) or a home (FetchEvidenceHome). Verify needs nothing
// else but the chain's genesis: no trust in whoever supplied it.
type Evidence struct {
	Entry Entry
	// Height is the state height the value is proved at.
	Height int64
	// Value is the entry's state record; nil claims it is absent.
	Value []byte
	Proof *ics23.CommitmentProof
	// Header is header Height+1 (its app hash is the state's after
	// Height) with its commit; Validators is the set it names.
	Header     *types.SignedHeader
	Validators *types.ValidatorSet
	// Anchor, when Validators are not genesis's, is the signed header at
	// the initial height: Validators are then trusted by light-client
	// verification from the genesis validators.
	Anchor *types.SignedHeader
	// Replayed, if set, is the validator set of Height+1 that a local
	// replay derived from genesis (a home's evidence).
	Replayed *types.ValidatorSet
}

// Verified is a checked entry.
type Verified struct {
	Entry   Entry         `json:"entry"`
	Height  int64         `json:"height"`
	Path    string        `json:"path"`
	Record  proto.Message `json:"-"`
	AppHash []byte        `json:"app_hash"`
	// Signers and Validators count the commit's signatures on header
	// Height+1 and the set's size; Trust says why that set is trusted.
	Signers    int    `json:"signers"`
	Validators int    `json:"validators"`
	Trust      string `json:"trust"`
}

// VerifyError is evidence that does not hold: a bad proof, a header not
// signed by its validators, validators not traced to genesis.
type VerifyError struct{ Reason string }

func (e *VerifyError) Error() string { return "NOT VERIFIED: " + e.Reason }

// ErrAbsent is wrapped by Verify's error when the evidence proves the
// entry does not exist at its height.
var ErrAbsent = errors.New("the entry does not exist")

func bad(format string, a ...any) error {
	return &VerifyError{Reason: fmt.Sprintf(format, a...)}
}

// Verify checks ev against genesis: header Height+1 is the chain's,
// signed by more than 2/3 of its validator set; that set is genesis's, or
// the one a replay from genesis derived, or follows from genesis's by
// light-client verification (Anchor); and the ICS23 proof ties the value
// (or its absence) at the entry's key, computed here, to the header's app
// hash. A failed check is a *VerifyError; a proved absence wraps
// ErrAbsent. now bounds header times (a header from the future fails).
func (ev *Evidence) Verify(doc *types.GenesisDoc, now time.Time) (*Verified, error) {
	if ev == nil || ev.Header == nil || ev.Header.Header == nil || ev.Header.Commit == nil || ev.Validators == nil || ev.Proof == nil {
		return nil, bad("the evidence is incomplete (it needs the value's proof, header %d with its commit and its validator set)", ev.heightPlus1())
	}
	chainID := doc.ChainID
	h := ev.Header
	if h.ChainID != chainID {
		return nil, bad("header %d is of chain %q, not %q", h.Height, h.ChainID, chainID)
	}
	if h.Height != ev.Height+1 {
		return nil, bad("the header is at height %d; the app hash of state %d is in header %d", h.Height, ev.Height, ev.Height+1)
	}
	if err := h.ValidateBasic(chainID); err != nil {
		return nil, bad("header %d: %v", h.Height, err)
	}
	if err := ev.Validators.ValidateBasic(); err != nil {
		return nil, bad("the validator set of header %d: %v", h.Height, err)
	}
	if !bytes.Equal(ev.Validators.Hash(), h.ValidatorsHash) {
		return nil, bad("header %d names validators %X, the evidence's set hashes to %X", h.Height, []byte(h.ValidatorsHash), ev.Validators.Hash())
	}
	if err := ev.Validators.VerifyCommitLight(chainID, h.Commit.BlockID, h.Height, h.Commit); err != nil {
		return nil, bad("header %d is not signed by more than 2/3 of its validators: %v", h.Height, err)
	}
	trust, err := ev.trustValidators(doc, now)
	if err != nil {
		return nil, err
	}
	key, err := ev.Entry.Key()
	if err != nil {
		return nil, err
	}
	out := &Verified{Entry: ev.Entry, Height: ev.Height, Path: ev.Entry.Path(), AppHash: h.AppHash, Trust: trust,
		Validators: ev.Validators.Size()}
	for _, s := range h.Commit.Signatures {
		if s.BlockIDFlag == types.BlockIDFlagCommit {
			out.Signers++
		}
	}
	if ev.Value == nil {
		if err := store.VerifyNonMembership(h.AppHash, ev.Proof, key); err != nil {
			return nil, bad("the proof of %s's absence at height %d does not verify against app hash %X: %v", ev.Entry, ev.Height, []byte(h.AppHash), err)
		}
		return out, fmt.Errorf("%w: %s at height %d (its absence is proved against app hash %X of header %d)", ErrAbsent, ev.Entry, ev.Height, []byte(h.AppHash), h.Height)
	}
	if err := store.VerifyMembership(h.AppHash, ev.Proof, key, ev.Value); err != nil {
		return nil, bad("the proof of %s at height %d does not verify against app hash %X of header %d: %v", ev.Entry, ev.Height, []byte(h.AppHash), h.Height, err)
	}
	if out.Record, err = ev.Entry.decode(ev.Value); err != nil {
		return nil, bad("%v", err)
	}
	return out, nil
}

func (ev *Evidence) heightPlus1() int64 {
	if ev == nil {
		return 0
	}
	return ev.Height + 1
}

// trustValidators says why ev.Validators, which signed the header, are
// the chain's.
func (ev *Evidence) trustValidators(doc *types.GenesisDoc, now time.Time) (string, error) {
	gv := make([]*types.Validator, len(doc.Validators))
	for i, v := range doc.Validators {
		gv[i] = types.NewValidator(v.PubKey, v.Power)
	}
	genesisVals := types.NewValidatorSet(gv)
	if bytes.Equal(ev.Validators.Hash(), genesisVals.Hash()) {
		return "the genesis validators", nil
	}
	if ev.Replayed != nil && bytes.Equal(ev.Validators.Hash(), ev.Replayed.Hash()) {
		return "the validator set a replay from genesis derived", nil
	}
	a := ev.Anchor
	if a == nil || a.Header == nil || a.Commit == nil {
		return "", bad("header %d's validators are not the genesis validators, and the evidence has no signed header at height %d to trace them from genesis", ev.Header.Height, doc.InitialHeight)
	}
	if a.Height != doc.InitialHeight {
		return "", bad("the anchor header is at height %d, not the initial height %d", a.Height, doc.InitialHeight)
	}
	if err := a.ValidateBasic(doc.ChainID); err != nil {
		return "", bad("the anchor header %d: %v", a.Height, err)
	}
	if !bytes.Equal(a.ValidatorsHash, genesisVals.Hash()) {
		return "", bad("header %d does not name the genesis validators", a.Height)
	}
	if err := genesisVals.VerifyCommitLight(doc.ChainID, a.Commit.BlockID, a.Height, a.Commit); err != nil {
		return "", bad("header %d is not signed by the genesis validators: %v", a.Height, err)
	}
	period := now.Sub(a.Time) + 24*time.Hour
	drift := 10 * time.Minute
	var err error
	if ev.Header.Height == a.Height+1 {
		err = light.VerifyAdjacent(a, ev.Header, ev.Validators, period, now, drift)
	} else {
		err = light.VerifyNonAdjacent(a, genesisVals, ev.Header, ev.Validators, period, now, drift, light.DefaultTrustLevel)
	}
	if err != nil {
		return "", bad("header %d's validators cannot be traced from the genesis validators in one step (%v); run `medchain audit replay`, or verify from a home, which replays", ev.Header.Height, err)
	}
	return "light-client verification from the genesis validators", nil
}
