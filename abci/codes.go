package abci

import (
	"errors"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/governance"
)

// Codespace qualifies every non-zero code medchain returns.
const Codespace = "medchain"

// Errors raised by the app itself (the rest come from abci/tx and contracts).
var (
	ErrWrongChainID  = errors.New("wrong chain id")
	ErrUnknownSigner = errors.New("unknown signer")
	ErrNonceReplayed = errors.New("nonce already used")
	ErrNonceSkipped  = errors.New("nonce ahead of the account sequence")
	ErrBadQuery      = errors.New("bad query")
)

// CodeInternal is returned for an error no entry of the table matches: a bug
// or a storage failure, never a verdict on the tx.
const CodeInternal uint32 = 100

// CodeEntry is one row of the code table.
type CodeEntry struct {
	Code uint32
	Name string
	Err  error
	// What the sender can do about it.
	Hint string
}

// Codes is the stable code table. Codes are never renumbered or reused;
// clients and auditors may rely on them. docs/CODES.md mirrors this table.
var Codes = []CodeEntry{
	{1, "tx_decode", tx.ErrDecode, "the tx bytes are not a well-formed medchain envelope; build txs with `medchain tx`"},
	{2, "tx_too_large", tx.ErrTooLarge, "split the payload or ask the alliance to raise params.max_tx_bytes"},
	{3, "bad_signature", tx.ErrBadSignature, "sign with the key registered for the signer address"},
	{4, "wrong_chain_id", ErrWrongChainID, "use the chain id of the network you send to (`medchain status`)"},
	{5, "unknown_signer", ErrUnknownSigner, "the signer has no account; a hospital operator must register it first"},
	{6, "nonce_replayed", ErrNonceReplayed, "this nonce was already used; query the account for its sequence"},
	{7, "nonce_skipped", ErrNonceSkipped, "send txs in sequence order; query the account for its sequence"},
	{8, "unknown_tx_type", contracts.ErrUnknownTxType, "use one of the tx types this chain knows"},
	{9, "invalid_payload", contracts.ErrInvalidPayload, "fix the payload as the log says"},
	{17, "already_voted", governance.ErrAlreadyVoted, "this member already voted on the proposal (proposing counts as its yes); one vote per member"},
	{18, "voting_closed", governance.ErrVotingClosed, "the proposal is decided or past its deadline (`medchain gov show <id>`); propose again if needed"},
	{19, "alliance_floor", governance.ErrAllianceFloor, "the alliance must keep at least 4 members and at least t; admit a hospital or lower t first"},
	{16, "denied", contracts.ErrDenied, "the alliance's rules refuse this (sharing: no valid grant, expired or revoked, not yours, out of scope, erased, no emergency duty or reason; research: privacy budget exhausted); the log says which"},
	{10, "unauthorized", contracts.ErrUnauthorized, "the signer's role may not send this tx"},
	{11, "not_found", contracts.ErrNotFound, "the tx refers to something that does not exist"},
	{12, "already_exists", contracts.ErrExists, "the tx would create something that already exists"},
	{13, "bad_query", ErrBadQuery, "see `medchain query --help` for the query paths"},
	{14, "invalid_genesis", contracts.ErrGenesis, "fix the genesis file's app_state"},
	{15, "wrong_state", contracts.ErrWrongState, "the tx is not allowed now; query the record it refers to"},
}

// CodeOf maps err to its stable code and name; nil is 0 "ok".
func CodeOf(err error) (uint32, string) {
	if err == nil {
		return 0, "ok"
	}
	for _, e := range Codes {
		if errors.Is(err, e.Err) {
			return e.Code, e.Name
		}
	}
	return CodeInternal, "internal"
}
