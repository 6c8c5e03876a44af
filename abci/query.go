package abci

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/governance"
	"github.com/medchain/medchain/contracts/hekeys"
	"github.com/medchain/medchain/contracts/memo"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
	"github.com/medchain/medchain/contracts/research"
)

// ProofOpType names the single proof op medchain returns: an ICS23
// CommitmentProof against the IAVL root, which is the app hash.
const ProofOpType = "ics23:iavl"

// QueryPaths documents the paths Query answers, for help texts.
var QueryPaths = []string{
	"/account/<address>        an account (pb.Account)",
	"/hospital/<id>            a member hospital (pb.Hospital)",
	"/hospitals                every member hospital (pb.HospitalList, no proof)",
	"/params                   the alliance parameters (pb.Params)",
	"/memo/<address>/<nonce>   a memo (pb.Memo)",
	"/key/<hex>                any raw state key",
	"/apphash                  the app hash this node computed for --height (raw bytes, no proof)",
	"/he/epoch/<n>             a collective-key epoch (pb.KeyEpoch)",
	"/he/commit/<epoch>/<m>    member m's key-share commitment (raw 32 bytes)",
	"/he/keyshare/<epoch>/<m>  member m's key-ceremony record (pb.KeyShareRecord)",
	"/he/ciphertext/<hex>      a submitted ciphertext's record (pb.CiphertextRecord)",
	"/he/request/<id>          a decryption request (pb.DecryptionRequest)",
	"/he/pending               every pending decryption request (pb.DecryptionRequestList, no proof)",
	"/blob/<hex sha256>        a content-addressed blob (raw bytes)",
}

func init() {
	QueryPaths = append(append(append(QueryPaths, records.QueryPaths...), research.QueryPaths...), governance.QueryPaths...)
}

// KeyForPath returns the state key a single-record path reads.
func KeyForPath(path string) ([]byte, error) {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	bad := func(format string, a ...any) ([]byte, error) {
		return nil, fmt.Errorf("%w: %s", ErrBadQuery, fmt.Sprintf(format, a...))
	}
	switch {
	case parts[0] == "account" && len(parts) == 2:
		a, err := pb.ParseAddress(parts[1])
		if err != nil {
			return bad("%v", err)
		}
		return accounts.AccountKey(a), nil
	case parts[0] == "hospital" && len(parts) == 2 && parts[1] != "":
		return accounts.HospitalKey(parts[1]), nil
	case parts[0] == "params" && len(parts) == 1:
		return accounts.ParamsKey(), nil
	case parts[0] == "memo" && len(parts) == 3:
		a, err := pb.ParseAddress(parts[1])
		if err != nil {
			return bad("%v", err)
		}
		n, err := strconv.ParseUint(parts[2], 10, 64)
		if err != nil {
			return bad("memo nonce %q is not a number", parts[2])
		}
		return memo.Key(a, n), nil
	case parts[0] == "he" && len(parts) >= 2:
		return heKey(parts[1:])
	case parts[0] == "records" && len(parts) >= 2:
		k, err := records.QueryKey(parts[1:])
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadQuery, err)
		}
		return k, nil
	case parts[0] == "research" && len(parts) >= 2:
		k, err := research.PathKey(parts[1:])
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadQuery, err)
		}
		return k, nil
	case parts[0] == "gov" && len(parts) >= 2:
		k, err := governance.PathKey(parts[1:])
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadQuery, err)
		}
		return k, nil
	case parts[0] == "blob" && len(parts) == 2:
		h, err := hex.DecodeString(parts[1])
		if err != nil || len(h) != 32 {
			return bad("blob hash %q is not 64 hex digits", parts[1])
		}
		return hekeys.BlobKey(h), nil
	case parts[0] == "key" && len(parts) == 2:
		k, err := hex.DecodeString(parts[1])
		if err != nil || len(k) == 0 {
			return bad("key %q is not non-empty hex", parts[1])
		}
		return k, nil
	}
	return bad("unknown path %q; known paths: %s", path, strings.Join(QueryPaths, "; "))
}

// Query answers `abci_query` from committed state at req.Height (0 = the
// latest). With req.Prove it adds an ICS23 proof of the value (or of its
// absence) against the app hash of that height, which is the app_hash of
// the header of the next block. A missing record is code 0 with no value.
func (a *App) Query(_ context.Context, req *abcitypes.RequestQuery) (*abcitypes.ResponseQuery, error) {
	height := req.Height
	if height == 0 {
		height, _ = a.store.LastCommit()
	}
	fail := func(err error) (*abcitypes.ResponseQuery, error) {
		code, name := CodeOf(err)
		if code == CodeInternal {
			code, name = CodeOf(fmt.Errorf("%w: %v", ErrBadQuery, err))
		}
		return &abcitypes.ResponseQuery{Code: code, Codespace: Codespace, Log: name + ": " + err.Error(), Height: height}, nil
	}
	// list answers a list path: the encoded list, without a proof.
	list := func(m proto.Message) (*abcitypes.ResponseQuery, error) {
		bz, err := proto.Marshal(m)
		if err != nil {
			return fail(err)
		}
		return &abcitypes.ResponseQuery{Value: bz, Height: height}, nil
	}
	if req.Path == "/apphash" {
		hash, err := a.store.HashAt(height)
		if err != nil {
			return fail(err)
		}
		return &abcitypes.ResponseQuery{Value: hash, Height: height}, nil
	}
	if parts := strings.Split(strings.TrimPrefix(req.Path, "/"), "/"); parts[0] == "records" && records.IsListPath(parts[1:]) {
		m, err := records.QueryList(historical{a.store, height}, parts[1:])
		if err != nil {
			return fail(fmt.Errorf("%w: %v", ErrBadQuery, err))
		}
		return list(m)
	}
	if parts := strings.Split(strings.TrimPrefix(req.Path, "/"), "/"); parts[0] == "research" && research.IsListPath(parts[1:]) {
		if len(parts) == 4 && parts[1] == "subjects" {
			// A query's subjects are read from the state of the query's
			// own height, whatever the request's height.
			h, err := strconv.ParseInt(parts[3], 10, 64)
			if err != nil || h < 1 || h > height {
				return fail(fmt.Errorf("%w: height %q: want a committed height, 1 to %d", ErrBadQuery, parts[3], height))
			}
			height = h
		}
		m, err := research.QueryList(historical{a.store, height}, parts[1:])
		if err != nil {
			return fail(fmt.Errorf("%w: %v", ErrBadQuery, err))
		}
		return list(m)
	}
	if parts := strings.Split(strings.TrimPrefix(req.Path, "/"), "/"); parts[0] == "gov" && governance.IsListPath(parts[1:]) {
		m, err := governance.QueryList(historical{a.store, height}, parts[1:])
		if err != nil {
			return fail(err)
		}
		return list(m)
	}
	if req.Path == "/he/pending" {
		reqs, err := hekeys.PendingRequests(historical{a.store, height})
		if err != nil {
			return fail(err)
		}
		return list(&pb.DecryptionRequestList{Requests: reqs})
	}
	if req.Path == "/hospitals" {
		hs, err := accounts.Hospitals(historical{a.store, height})
		if err != nil {
			return fail(err)
		}
		return list(&pb.HospitalList{Hospitals: hs})
	}
	key, err := KeyForPath(req.Path)
	if err != nil {
		return fail(err)
	}
	resp := &abcitypes.ResponseQuery{Key: key, Height: height}
	if !req.Prove {
		resp.Value, err = a.store.GetAt(height, key)
		if err != nil {
			return fail(err)
		}
		return resp, nil
	}
	value, proof, err := a.store.ProveAt(height, key)
	if err != nil {
		return fail(err)
	}
	bz, err := proof.Marshal()
	if err != nil {
		return fail(err)
	}
	resp.Value = value
	resp.ProofOps = &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{{Type: ProofOpType, Key: key, Data: bz}}}
	return resp, nil
}

// heKey maps "/he/..." paths to state keys.
func heKey(parts []string) ([]byte, error) {
	num := func(s string) (uint64, error) {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %q is not a number", ErrBadQuery, s)
		}
		return n, nil
	}
	switch {
	case parts[0] == "epoch" && len(parts) == 2:
		e, err := num(parts[1])
		if err != nil {
			return nil, err
		}
		return hekeys.EpochKey(e), nil
	case parts[0] == "keyshare" && len(parts) == 3:
		e, err := num(parts[1])
		if err != nil {
			return nil, err
		}
		d, err := num(parts[2])
		if err != nil {
			return nil, err
		}
		return hekeys.KeyShareKey(e, d), nil
	case parts[0] == "commit" && len(parts) == 3:
		e, err := num(parts[1])
		if err != nil {
			return nil, err
		}
		d, err := num(parts[2])
		if err != nil {
			return nil, err
		}
		return hekeys.CommitKey(e, d), nil
	case parts[0] == "request" && len(parts) == 2:
		id, err := num(parts[1])
		if err != nil {
			return nil, err
		}
		return hekeys.RequestKey(id), nil
	case parts[0] == "ciphertext" && len(parts) == 2:
		h, err := hex.DecodeString(parts[1])
		if err != nil || len(h) != 32 {
			return nil, fmt.Errorf("%w: ciphertext hash %q is not 64 hex digits", ErrBadQuery, parts[1])
		}
		return hekeys.CiphertextKey(h), nil
	}
	return nil, fmt.Errorf("%w: unknown path /he/%s; known paths: %s", ErrBadQuery, strings.Join(parts, "/"), strings.Join(QueryPaths, "; "))
}
