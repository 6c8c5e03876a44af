package chainrpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmtbytes "github.com/cometbft/cometbft/libs/bytes"
	"github.com/cometbft/cometbft/mempool"
	"github.com/cometbft/cometbft/p2p"
	rpcclient "github.com/cometbft/cometbft/rpc/client"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	cmttypes "github.com/cometbft/cometbft/types"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
)

// fakeRPC answers the RPC calls Chain makes with canned results, and the
// errors CometBFT's own RPC core returns. The embedded interface is nil:
// a call Chain should not make panics the test.
type fakeRPC struct {
	rpcclient.Client

	query     *ctypes.ResultABCIQuery
	broadcast *ctypes.ResultBroadcastTx
	tx        *ctypes.ResultTx
	status    *ctypes.ResultStatus
	info      *ctypes.ResultABCIInfo
	blocks    map[int64]*ctypes.ResultBlockResults
	err       error // every call fails with it

	paths []string // the query paths asked
}

func (f *fakeRPC) ABCIQueryWithOptions(_ context.Context, path string, _ cmtbytes.HexBytes, _ rpcclient.ABCIQueryOptions) (*ctypes.ResultABCIQuery, error) {
	f.paths = append(f.paths, path)
	return f.query, f.err
}

func (f *fakeRPC) BroadcastTxSync(context.Context, cmttypes.Tx) (*ctypes.ResultBroadcastTx, error) {
	return f.broadcast, f.err
}

func (f *fakeRPC) Tx(context.Context, []byte, bool) (*ctypes.ResultTx, error) {
	return f.tx, f.err
}

func (f *fakeRPC) Status(context.Context) (*ctypes.ResultStatus, error) {
	return f.status, f.err
}

func (f *fakeRPC) ABCIInfo(context.Context) (*ctypes.ResultABCIInfo, error) {
	return f.info, f.err
}

func (f *fakeRPC) BlockResults(_ context.Context, height *int64) (*ctypes.ResultBlockResults, error) {
	if f.err != nil {
		return nil, f.err
	}
	r, ok := f.blocks[*height]
	if !ok {
		return nil, fmt.Errorf("could not find results for height #%d", *height)
	}
	return r, nil
}

func queryAnswer(code uint32, log string, value []byte) *ctypes.ResultABCIQuery {
	return &ctypes.ResultABCIQuery{Response: abcitypes.ResponseQuery{Code: code, Log: log, Value: value}}
}

func TestQuery(t *testing.T) {
	cases := []struct {
		name    string
		rpc     *fakeRPC
		want    []byte
		wantErr string
	}{
		{"a stored value is returned as is", &fakeRPC{query: queryAnswer(0, "", []byte("v"))}, []byte("v"), ""},
		{"an empty answer means there is no value", &fakeRPC{query: queryAnswer(0, "", nil)}, nil, ""},
		{"a refused query is an error naming the path, code and log", &fakeRPC{query: queryAnswer(6, "unknown path", nil)}, nil, "query /x refused: code 6: unknown path"},
		{"a transport failure is an error naming the path", &fakeRPC{err: errors.New("connection refused")}, nil, "query /x: connection refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Chain{C: c.rpc}.Query(context.Background(), "/x")
			checkErr(t, err, c.wantErr)
			if !bytes.Equal(got, c.want) || (c.want == nil) != (got == nil) {
				t.Fatalf("value %q, want %q", got, c.want)
			}
			if len(c.rpc.paths) != 1 || c.rpc.paths[0] != "/x" {
				t.Fatalf("asked %v, want [/x]", c.rpc.paths)
			}
		})
	}
}

func TestBroadcast(t *testing.T) {
	raw := []byte("a signed tx")
	cases := []struct {
		name    string
		rpc     *fakeRPC
		want    Broadcast
		wantErr string
	}{
		{"a tx CheckTx accepts carries its hash", &fakeRPC{broadcast: &ctypes.ResultBroadcastTx{Hash: tx.Hash(raw)}}, Broadcast{Hash: tx.Hash(raw)}, ""},
		{"a tx CheckTx refuses carries its code and log", &fakeRPC{broadcast: &ctypes.ResultBroadcastTx{Code: 7, Log: "nonce replayed", Hash: tx.Hash(raw)}},
			Broadcast{Code: 7, Log: "nonce replayed", Hash: tx.Hash(raw)}, ""},
		{"a tx the mempool already holds is accepted and flagged in cache", &fakeRPC{err: fmt.Errorf("broadcast: %w", mempool.ErrTxInCache)},
			Broadcast{Hash: tx.Hash(raw), InCache: true}, ""},
		{"the in-cache message survives an HTTP client that loses the error type", &fakeRPC{err: errors.New(`RPC error -32603 - Internal error: tx already exists in cache`)},
			Broadcast{Hash: tx.Hash(raw), InCache: true}, ""},
		{"any other failure is a broadcast error", &fakeRPC{err: errors.New("mempool is full")}, Broadcast{}, "broadcast: mempool is full"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Chain{C: c.rpc}.Broadcast(context.Background(), raw)
			checkErr(t, err, c.wantErr)
			if got.Code != c.want.Code || got.Log != c.want.Log || got.InCache != c.want.InCache || !bytes.Equal(got.Hash, c.want.Hash) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestTxResult(t *testing.T) {
	hash := tx.Hash([]byte("a signed tx"))
	cases := []struct {
		name    string
		rpc     *fakeRPC
		want    TxResult
		wantOK  bool
		wantErr string
	}{
		{"a committed tx gives its height, code and log", &fakeRPC{tx: &ctypes.ResultTx{Height: 9, TxResult: abcitypes.ExecTxResult{Code: 3, Log: "denied"}}},
			TxResult{Height: 9, Code: 3, Log: "denied"}, true, ""},
		{"a tx not in a committed block yet is not ok and no error", &fakeRPC{err: fmt.Errorf("tx (%X) not found", hash)}, TxResult{}, false, ""},
		{"a failing index is an error naming the tx", &fakeRPC{err: errors.New("transaction indexing is disabled")}, TxResult{}, false,
			fmt.Sprintf("tx %X: transaction indexing is disabled", hash)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok, err := Chain{C: c.rpc}.TxResult(context.Background(), hash)
			checkErr(t, err, c.wantErr)
			if got != c.want || ok != c.wantOK {
				t.Fatalf("got %+v %v, want %+v %v", got, ok, c.want, c.wantOK)
			}
		})
	}
}

func TestStatusAndHeights(t *testing.T) {
	status := &ctypes.ResultStatus{
		NodeInfo: p2p.DefaultNodeInfo{Network: "medchain-test"},
		SyncInfo: ctypes.SyncInfo{LatestBlockHeight: 12, CatchingUp: true},
	}
	info := &ctypes.ResultABCIInfo{Response: abcitypes.ResponseInfo{LastBlockHeight: 11}}
	t.Run("the status gives the chain id, the block height and the sync state", func(t *testing.T) {
		st, err := Chain{C: &fakeRPC{status: status}}.Status(context.Background())
		if err != nil || st != (Status{ChainID: "medchain-test", Height: 12, CatchingUp: true}) {
			t.Fatalf("got %+v %v", st, err)
		}
	})
	t.Run("the height is the block store's latest block", func(t *testing.T) {
		h, err := Chain{C: &fakeRPC{status: status}}.Height(context.Background())
		if err != nil || h != 12 {
			t.Fatalf("got %d %v", h, err)
		}
	})
	t.Run("the app height is what abci_info reports", func(t *testing.T) {
		h, err := Chain{C: &fakeRPC{info: info}}.AppHeight(context.Background())
		if err != nil || h != 11 {
			t.Fatalf("got %d %v", h, err)
		}
	})
	down := &fakeRPC{err: errors.New("connection refused")}
	t.Run("an unreachable node's status error says to check the node and its address", func(t *testing.T) {
		_, err := Chain{C: down}.Status(context.Background())
		checkErr(t, err, "node status: connection refused (is the node running, and is its RPC address right?)")
		_, err = Chain{C: down}.Height(context.Background())
		checkErr(t, err, "node status: connection refused")
	})
	t.Run("an abci_info failure is an error", func(t *testing.T) {
		_, err := Chain{C: down}.AppHeight(context.Background())
		checkErr(t, err, "abci info: connection refused")
	})
}

func erased(id, custodian string) abcitypes.Event {
	return abcitypes.Event{Type: records.EventErased, Attributes: []abcitypes.EventAttribute{
		{Key: "record", Value: id}, {Key: "custodian", Value: custodian}, {Key: "key_copies_removed", Value: "1"},
	}}
}

func TestErasures(t *testing.T) {
	idA, idB, idC := strings.Repeat("a", 64), strings.Repeat("b", 64), strings.Repeat("c", 64)
	blocks := map[int64]*ctypes.ResultBlockResults{
		5: {Height: 5, TxsResults: []*abcitypes.ExecTxResult{
			{Events: []abcitypes.Event{erased(idA, "h1"), {Type: "record.registered"}}},
			{Events: []abcitypes.Event{erased(idB, "h2")}},
		}},
		6: {Height: 6},
		7: {Height: 7, TxsResults: []*abcitypes.ExecTxResult{
			{Code: 5, Events: []abcitypes.Event{erased(idC, "h1")}},
			{Events: []abcitypes.Event{erased(idC, "h1")}},
		}},
	}
	cases := []struct {
		name     string
		from, to int64
		want     []Erasure
		wantErr  string
	}{
		{"only the custodian's erasures of committed txs are listed, in height order", 5, 7,
			[]Erasure{{RecordID: idA, Height: 5}, {RecordID: idC, Height: 7}}, ""},
		{"a range without erasures lists none", 6, 6, nil, ""},
		{"a block whose results the node discarded is an error that names the setting", 7, 8, nil,
			"results of block 8 (storage.discard_abci_responses must be false to follow erasures)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Chain{C: &fakeRPC{blocks: blocks}}.Erasures(context.Background(), "h1", c.from, c.to)
			checkErr(t, err, c.wantErr)
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestQueryMessage(t *testing.T) {
	acc, err := proto.Marshal(&pb.Account{Address: "a1", Sequence: 4})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		rpc     *fakeRPC
		want    string // the decoded address, "" for none
		wantErr string
	}{
		{"a stored message is decoded", &fakeRPC{query: queryAnswer(0, "", acc)}, "a1", ""},
		{"no value is a nil message and no error", &fakeRPC{query: queryAnswer(0, "", nil)}, "", ""},
		{"undecodable bytes are an error naming the path", &fakeRPC{query: queryAnswer(0, "", []byte{0xff, 0xff})}, "",
			"/account/a1: the node answered an undecodable value"},
		{"a refused query is passed on", &fakeRPC{query: queryAnswer(2, "bad path", nil)}, "", "query /account/a1 refused: code 2: bad path"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := QueryMessage[pb.Account](context.Background(), Chain{C: c.rpc}, "/account/a1")
			checkErr(t, err, c.wantErr)
			if (got == nil) != (c.want == "") || (got != nil && (got.Address != c.want || got.Sequence != 4)) {
				t.Fatalf("got %v, want address %q", got, c.want)
			}
		})
	}
}

// fakeEvents is an rpcclient.EventsClient with one subscription.
type fakeEvents struct {
	query string
	out   chan ctypes.ResultEvent
}

func (f *fakeEvents) Subscribe(_ context.Context, _, query string, _ ...int) (<-chan ctypes.ResultEvent, error) {
	f.query = query
	return f.out, nil
}
func (f *fakeEvents) Unsubscribe(context.Context, string, string) error { return nil }
func (f *fakeEvents) UnsubscribeAll(context.Context, string) error      { return nil }

func TestWatchBlocks(t *testing.T) {
	ev := &fakeEvents{out: make(chan ctypes.ResultEvent)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wake, err := WatchBlocks(ctx, ev, "test")
	if err != nil {
		t.Fatal(err)
	}
	if ev.query != cmttypes.EventQueryNewBlockHeader.String() {
		t.Fatalf("subscribed to %q", ev.query)
	}
	t.Run("blocks that arrive while the consumer is busy coalesce into one wake-up and never block the bus", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			select {
			case ev.out <- ctypes.ResultEvent{}:
			case <-time.After(5 * time.Second):
				t.Fatal("the watcher blocked the event bus")
			}
		}
		time.Sleep(50 * time.Millisecond) // let it handle the last one
		select {
		case <-wake:
		case <-time.After(5 * time.Second):
			t.Fatal("no wake-up")
		}
		select {
		case <-wake:
			t.Fatal("a second wake-up for coalesced blocks")
		case <-time.After(50 * time.Millisecond):
		}
	})
}

// checkErr fails t unless err contains want ("" : err must be nil).
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("error %v, want one containing %q", err, want)
	}
}
