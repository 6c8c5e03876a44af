// Package client talks to a medchain node over CometBFT's RPC: it signs and
// broadcasts txs and waits for their commit, reads accounts, and runs
// queries whose ICS23 proofs it verifies against a header signed by more
// than two thirds of the validator set.
package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"time"

	cmtbytes "github.com/cometbft/cometbft/libs/bytes"
	rpcclient "github.com/cometbft/cometbft/rpc/client"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	ics23 "github.com/cosmos/ics23/go"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci"
	"github.com/medchain/medchain/abci/store"
	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
)

// Client is a connection to one node's RPC.
type Client struct {
	rpc *rpchttp.HTTP
	url string
}

// Dial connects to a node's RPC address (http://127.0.0.1:26657 or tcp://…).
func Dial(url string) (*Client, error) {
	if url == "" {
		return nil, errors.New("--node is empty; give the node's RPC address, e.g. http://127.0.0.1:26657")
	}
	u := strings.Replace(url, "tcp://", "http://", 1)
	c, err := rpchttp.NewWithTimeout(u, "/websocket", 30)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", url, err)
	}
	return &Client{rpc: c, url: url}, nil
}

// RPC exposes the underlying CometBFT client.
func (c *Client) RPC() *rpchttp.HTTP { return c.rpc }

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (*ctypes.ResultStatus, error) {
	st, err := c.rpc.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("node %s does not answer (%v); is it running, and is --node right?", c.url, err)
	}
	return st, nil
}

// CodeError is a tx or query refused by the app.
type CodeError struct {
	Code      uint32
	Codespace string
	Log       string
	Stage     string // "check" (mempool), "deliver" (in a block) or "query"
}

func (e *CodeError) Error() string {
	return fmt.Sprintf("%s refused: code %d (%s): %s", e.Stage, e.Code, e.Codespace, e.Log)
}

// Result is a committed tx.
type Result struct {
	Hash   cmtbytes.HexBytes
	Height int64
	Code   uint32
	Log    string
	Events []EventView
}

// EventView is a flattened event for printing.
type EventView struct {
	Type  string            `json:"type"`
	Attrs map[string]string `json:"attrs"`
}

// BroadcastAndWait submits raw with broadcast_tx_sync, then waits until it
// is in a committed block or timeout passes. A CheckTx refusal is a
// *CodeError at stage "check"; a block refusal is returned as a Result with
// a non-zero Code (it is on the ledger).
func (c *Client) BroadcastAndWait(ctx context.Context, raw []byte, timeout time.Duration) (*Result, error) {
	res, err := c.rpc.BroadcastTxSync(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("broadcast to %s: %w", c.url, err)
	}
	if res.Code != 0 {
		return nil, &CodeError{Code: res.Code, Codespace: res.Codespace, Log: res.Log, Stage: "check"}
	}
	deadline := time.Now().Add(timeout)
	for {
		r, err := c.rpc.Tx(ctx, res.Hash, false)
		if err == nil {
			out := &Result{Hash: r.Hash, Height: r.Height, Code: r.TxResult.Code, Log: r.TxResult.Log}
			for _, e := range r.TxResult.Events {
				ev := EventView{Type: e.Type, Attrs: map[string]string{}}
				for _, a := range e.Attributes {
					ev.Attrs[a.Key] = a.Value
				}
				out.Events = append(out.Events, ev)
			}
			return out, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("tx %X not committed within %s (last answer: %v)", res.Hash, timeout, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Account reads an account at the latest height; nil if it does not exist.
func (c *Client) Account(ctx context.Context, addr string) (*pb.Account, error) {
	q, err := c.Query(ctx, "/account/"+addr, 0, false)
	if err != nil {
		return nil, err
	}
	if q.Value == nil {
		return nil, nil
	}
	var acc pb.Account
	if err := tx.Unmarshal(q.Value, &acc); err != nil {
		return nil, fmt.Errorf("account %s from the node: %w", addr, err)
	}
	return &acc, nil
}

// ChainID asks the node for its chain id.
func (c *Client) ChainID(ctx context.Context) (string, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return "", err
	}
	return st.NodeInfo.Network, nil
}

// Send builds, signs and submits one tx from priv, using the account's
// current sequence as the nonce, and waits for its commit.
func (c *Client) Send(ctx context.Context, priv ed25519.PrivateKey, txType string, payload proto.Message, timeout time.Duration) (*Result, error) {
	addr := pb.AddressOf(priv.Public().(ed25519.PublicKey))
	acc, err := c.Account(ctx, addr)
	if err != nil {
		return nil, err
	}
	if acc == nil {
		return nil, fmt.Errorf("%s has no account on this chain; a hospital operator must register it first", addr)
	}
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := tx.Build(priv, chainID, addr, acc.Sequence, txType, payload)
	if err != nil {
		return nil, err
	}
	return c.BroadcastAndWait(ctx, raw, timeout)
}

// QueryResult is an answered query.
type QueryResult struct {
	Path   string
	Key    []byte
	Value  []byte // nil: no record
	Height int64  // the state height the answer is from
	// Verified is set when a proof was checked against the app hash in the
	// header of block Height+1, signed by more than 2/3 of the validators.
	Verified bool
	AppHash  []byte
}

// Query runs an ABCI query. With prove, it verifies the returned ICS23
// proof (of membership, or of absence) against the signed header.
func (c *Client) Query(ctx context.Context, path string, height int64, prove bool) (*QueryResult, error) {
	res, err := c.rpc.ABCIQueryWithOptions(ctx, path, nil, rpcclient.ABCIQueryOptions{Height: height, Prove: prove})
	if err != nil {
		return nil, fmt.Errorf("query %s on %s: %w", path, c.url, err)
	}
	r := res.Response
	if r.Code != 0 {
		return nil, &CodeError{Code: r.Code, Codespace: r.Codespace, Log: r.Log, Stage: "query"}
	}
	out := &QueryResult{Path: path, Key: r.Key, Value: r.Value, Height: r.Height}
	if len(out.Value) == 0 {
		out.Value = nil
	}
	if !prove {
		return out, nil
	}
	if r.ProofOps == nil || len(r.ProofOps.Ops) != 1 || r.ProofOps.Ops[0].Type != abci.ProofOpType {
		return nil, fmt.Errorf("query %s: the node returned no %s proof", path, abci.ProofOpType)
	}
	var proof ics23.CommitmentProof
	if err := proof.Unmarshal(r.ProofOps.Ops[0].Data); err != nil {
		return nil, fmt.Errorf("query %s: proof does not decode: %w", path, err)
	}
	appHash, err := c.verifiedAppHash(ctx, r.Height)
	if err != nil {
		return nil, err
	}
	if out.Value != nil {
		err = store.VerifyMembership(appHash, &proof, r.Key, out.Value)
	} else {
		err = store.VerifyNonMembership(appHash, &proof, r.Key)
	}
	if err != nil {
		return nil, fmt.Errorf("query %s at height %d: PROOF DOES NOT VERIFY against app hash %X: %w", path, r.Height, appHash, err)
	}
	out.Verified, out.AppHash = true, appHash
	return out, nil
}

// verifiedAppHash returns the app hash of the state after block h: the
// app_hash of header h+1, after checking that header's commit carries
// signatures of more than 2/3 of the validator set it names.
func (c *Client) verifiedAppHash(ctx context.Context, h int64) ([]byte, error) {
	next := h + 1
	var sh *ctypes.ResultCommit
	for i := 0; ; i++ {
		var err error
		sh, err = c.rpc.Commit(ctx, &next)
		if err == nil && sh.CanonicalCommit {
			break
		}
		if i > 100 {
			return nil, fmt.Errorf("no committed header at height %d to verify against (%v)", next, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	page, perPage := 1, 100
	vals, err := c.rpc.Validators(ctx, &next, &page, &perPage)
	if err != nil {
		return nil, fmt.Errorf("validators at height %d: %w", next, err)
	}
	vset, err := validatorSet(vals)
	if err != nil {
		return nil, err
	}
	hdr := sh.SignedHeader
	if err := hdr.ValidateBasic(hdr.ChainID); err != nil {
		return nil, fmt.Errorf("header %d: %w", next, err)
	}
	if !bytesEqual(hdr.ValidatorsHash, vset.Hash()) {
		return nil, fmt.Errorf("header %d names validators %X, the node returned a set hashing to %X", next, hdr.ValidatorsHash, vset.Hash())
	}
	if err := vset.VerifyCommitLight(hdr.ChainID, hdr.Commit.BlockID, next, hdr.Commit); err != nil {
		return nil, fmt.Errorf("header %d is not signed by more than 2/3 of its validators: %w", next, err)
	}
	return hdr.AppHash, nil
}
