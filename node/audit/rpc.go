package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	cmtjson "github.com/cometbft/cometbft/libs/json"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	"github.com/cometbft/cometbft/types"
)

// RPC reads a chain from a node's CometBFT RPC: /genesis (or
// /genesis_chunked), /status, /block, /abci_info and /tx. The node may keep
// running; nothing it says is trusted: every block is checked against the
// genesis validators' signatures and re-executed.
type RPC struct {
	url string
	c   *rpchttp.HTTP
}

var (
	_ Source       = (*RPC)(nil)
	_ StateWitness = (*RPC)(nil)
	_ TxLocator    = (*RPC)(nil)
)

// DialRPC prepares a client for the node at url (http://host:port).
func DialRPC(url string) (*RPC, error) {
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "tcp://") {
		return nil, fmt.Errorf("--rpc %q: give the node's RPC address as http://host:port", url)
	}
	c, err := rpchttp.New(url, "/websocket")
	if err != nil {
		return nil, fmt.Errorf("--rpc %q: %w", url, err)
	}
	return &RPC{url: url, c: c}, nil
}

// Genesis fetches the genesis, in chunks when the node says it is too big
// for one answer.
func (r *RPC) Genesis(ctx context.Context) (*types.GenesisDoc, error) {
	res, err := r.c.Genesis(ctx)
	if err == nil {
		if res.Genesis == nil {
			return nil, fmt.Errorf("%s/genesis returned no genesis", r.url)
		}
		return res.Genesis, res.Genesis.ValidateAndComplete()
	}
	if !strings.Contains(err.Error(), "genesis_chunked") {
		return nil, fmt.Errorf("%s/genesis: %w", r.url, err)
	}
	var raw bytes.Buffer
	for i := 0; ; i++ {
		ch, err := r.c.GenesisChunked(ctx, uint(i))
		if err != nil {
			return nil, fmt.Errorf("%s/genesis_chunked chunk %d: %w", r.url, i, err)
		}
		bz, err := base64.StdEncoding.DecodeString(ch.Data)
		if err != nil {
			return nil, fmt.Errorf("%s/genesis_chunked chunk %d is not base64: %w", r.url, i, err)
		}
		raw.Write(bz)
		if i+1 >= ch.TotalChunks {
			break
		}
	}
	var doc types.GenesisDoc
	if err := cmtjson.Unmarshal(raw.Bytes(), &doc); err != nil {
		return nil, fmt.Errorf("%s/genesis_chunked: the genesis does not decode: %w", r.url, err)
	}
	return &doc, doc.ValidateAndComplete()
}

// Heights is the node's earliest and latest block height now.
func (r *RPC) Heights(ctx context.Context) (int64, int64, error) {
	st, err := r.c.Status(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("%s/status: %w", r.url, err)
	}
	return st.SyncInfo.EarliestBlockHeight, st.SyncInfo.LatestBlockHeight, nil
}

// Block fetches block h and checks it hashes to the id the node gives.
func (r *RPC) Block(ctx context.Context, h int64) (*types.Block, types.BlockID, error) {
	res, err := r.c.Block(ctx, &h)
	if err != nil {
		if ctx.Err() != nil {
			return nil, types.BlockID{}, ctx.Err()
		}
		return nil, types.BlockID{}, &UnreadableError{Height: h, Reason: fmt.Sprintf("%s/block: %v", r.url, err)}
	}
	if res.Block == nil {
		return nil, types.BlockID{}, &UnreadableError{Height: h, Reason: r.url + "/block returned no block"}
	}
	if res.Block.Height != h {
		return nil, types.BlockID{}, &UnreadableError{Height: h, Reason: fmt.Sprintf("%s/block returned block %d", r.url, res.Block.Height)}
	}
	if got := res.Block.Hash(); !bytes.Equal(got, res.BlockID.Hash) {
		return nil, types.BlockID{}, &UnreadableError{Height: h, Reason: fmt.Sprintf("the block's header hashes to %X, the node's block id says %X", got, []byte(res.BlockID.Hash))}
	}
	return res.Block, res.BlockID, nil
}

// AppState is the node's /abci_info: its app's last height and app hash.
func (r *RPC) AppState(ctx context.Context) (int64, []byte, bool, error) {
	info, err := r.c.ABCIInfo(ctx)
	if err != nil {
		return 0, nil, false, fmt.Errorf("%s/abci_info: %w", r.url, err)
	}
	if info.Response.LastBlockHeight == 0 {
		return 0, nil, false, nil
	}
	return info.Response.LastBlockHeight, info.Response.LastBlockAppHash, true, nil
}

// Describe names the witness.
func (r *RPC) Describe() string { return "the node's app (" + r.url + "/abci_info)" }

// TxPosition asks the node's tx index where a tx was committed.
func (r *RPC) TxPosition(ctx context.Context, hash []byte) (int64, uint32, bool, error) {
	res, err := r.c.Tx(ctx, hash, false)
	if err != nil {
		if strings.Contains(err.Error(), "not found") {
			return 0, 0, false, nil
		}
		return 0, 0, false, err
	}
	return res.Height, res.Index, true, nil
}

// Close does nothing: the HTTP client holds no connection open.
func (r *RPC) Close() error { return nil }
