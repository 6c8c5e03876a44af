package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	dbm "github.com/cometbft/cometbft-db"
	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmtstore "github.com/cometbft/cometbft/proto/tendermint/store"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	"github.com/cometbft/cometbft/types"
	"github.com/cosmos/gogoproto/proto"
	"github.com/dgraph-io/badger/v4"
	lerrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/opt"

	"github.com/medchain/medchain/genesis"
	"github.com/medchain/medchain/node"
)

// Home reads a stopped node's home: its genesis, its CometBFT block store
// and tx index (goleveldb, opened read-only) and the commit point of its app
// state (Badger, opened read-only). Nothing in the home is written.
type Home struct {
	dir      string
	genesis  *types.GenesisDoc
	blocks   dbm.DB
	txIndex  dbm.DB // nil if the home keeps no tx index
	stateDir string
}

var (
	_ Source       = (*Home)(nil)
	_ StateWitness = (*Home)(nil)
	_ TxLocator    = (*Home)(nil)
)

// OpenHome opens home's chain copy read-only. The node must be stopped: a
// running node holds its databases' locks, and the error says so.
func OpenHome(home string) (*Home, error) {
	conf, err := node.LoadConfig(home, nil)
	if err != nil {
		return nil, err
	}
	c := conf.Comet
	doc, _, err := genesis.Load(c.GenesisFile())
	if err != nil {
		return nil, err
	}
	if c.DBBackend != string(dbm.GoLevelDBBackend) {
		return nil, fmt.Errorf("%s: db_backend = %q; audit replay reads goleveldb block stores only (medchain's default)", node.CometConfigPath(home), c.DBBackend)
	}
	h := &Home{dir: home, genesis: doc, stateDir: node.StateDir(c)}
	h.blocks, err = openLevelReadOnly(c.DBDir(), "blockstore")
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(c.DBDir(), "tx_index.db")); err == nil {
		// Only a hint for naming an altered tx: a home without a readable
		// index is still replayed.
		if h.txIndex, err = openLevelReadOnly(c.DBDir(), "tx_index"); err != nil {
			h.blocks.Close()
			return nil, err
		}
	}
	return h, nil
}

// openLevelReadOnly opens dir/name.db read-only, saying clearly when a
// running node holds it.
func openLevelReadOnly(dir, name string) (dbm.DB, error) {
	path := filepath.Join(dir, name+".db")
	if st, err := os.Stat(path); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%s: no such database; is this a node's home that has run (medchain start)?", path)
	}
	db, err := dbm.NewGoLevelDBWithOpts(name, dir, &opt.Options{ReadOnly: true, ErrorIfMissing: true})
	if err != nil {
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is locked: a node is running on this home; stop it first, or replay over its RPC with --rpc", path)
		}
		if lerrors.IsCorrupted(err) {
			return nil, fmt.Errorf("%w: %s: %v; restore the node's data folder from a backup or another node's copy", ErrCorruptStore, path, err)
		}
		return nil, fmt.Errorf("open %s read-only: %w", path, err)
	}
	return db, nil
}

// Genesis returns the home's genesis (config/genesis.json).
func (h *Home) Genesis(context.Context) (*types.GenesisDoc, error) { return h.genesis, nil }

// Heights reads the block store's base and height.
func (h *Home) Heights(context.Context) (int64, int64, error) {
	bz, err := h.blocks.Get([]byte("blockStore"))
	if err != nil {
		return 0, 0, fmt.Errorf("block store: read its state: %w", err)
	}
	return decodeBlockStoreState(bz)
}

// decodeBlockStoreState parses the block store's "blockStore" record
// (CometBFT's store.BlockStoreState); absent means empty.
func decodeBlockStoreState(bz []byte) (base, last int64, err error) {
	if len(bz) == 0 {
		return 0, 0, nil
	}
	var bss cmtstore.BlockStoreState
	if err := proto.Unmarshal(bz, &bss); err != nil {
		return 0, 0, fmt.Errorf("block store: its state record does not decode (%v): the block store is corrupt", err)
	}
	if bss.Height < 0 || bss.Base < 0 || bss.Base > bss.Height {
		return 0, 0, fmt.Errorf("block store: its state record says base %d, height %d: the block store is corrupt", bss.Base, bss.Height)
	}
	if bss.Height > 0 && bss.Base == 0 {
		bss.Base = 1
	}
	return bss.Base, bss.Height, nil
}

// Block reads block h from its meta and parts, checking each part's proof
// against the part set hash and the block's hash against its id.
func (h *Home) Block(_ context.Context, height int64) (*types.Block, types.BlockID, error) {
	get := func(key string) ([]byte, error) {
		bz, err := h.blocks.Get([]byte(key))
		if err != nil {
			return nil, &UnreadableError{Height: height, Reason: fmt.Sprintf("reading %q from the block store failed: %v (the block store is corrupt)", key, err)}
		}
		return bz, nil
	}
	meta, err := get("H:" + strconv.FormatInt(height, 10))
	if err != nil {
		return nil, types.BlockID{}, err
	}
	return assembleBlock(height, meta, func(i int) ([]byte, error) {
		return get("P:" + strconv.FormatInt(height, 10) + ":" + strconv.Itoa(i))
	})
}

// assembleBlock decodes block height from its stored meta and parts (as
// CometBFT's BlockStore.SaveBlock wrote them) without ever panicking:
// anything missing, undecodable or inconsistent is an *UnreadableError.
func assembleBlock(height int64, metaBz []byte, part func(i int) ([]byte, error)) (*types.Block, types.BlockID, error) {
	bad := func(format string, a ...any) (*types.Block, types.BlockID, error) {
		return nil, types.BlockID{}, &UnreadableError{Height: height, Reason: fmt.Sprintf(format, a...)}
	}
	if len(metaBz) == 0 {
		return bad("the block is missing from the block store (the store is truncated)")
	}
	var pbm cmtproto.BlockMeta
	if err := proto.Unmarshal(metaBz, &pbm); err != nil {
		return bad("the block's meta record does not decode (%v): the block store is corrupt", err)
	}
	meta, err := types.BlockMetaFromTrustedProto(&pbm)
	if err != nil {
		return bad("the block's meta record is invalid (%v): the block store is corrupt", err)
	}
	if err := meta.BlockID.ValidateBasic(); err != nil {
		return bad("the block's meta record has an invalid block id (%v): the block store is corrupt", err)
	}
	if meta.Header.Height != height {
		return bad("the block's meta record is for height %d: the block store is corrupt", meta.Header.Height)
	}
	psh := meta.BlockID.PartSetHeader
	if psh.Total == 0 || psh.Total > types.MaxBlockPartsCount {
		return bad("the block's meta record says %d parts (1 to %d): the block store is corrupt", psh.Total, types.MaxBlockPartsCount)
	}
	ps := types.NewPartSetFromHeader(psh)
	for i := 0; i < int(psh.Total); i++ {
		bz, err := part(i)
		if err != nil {
			return nil, types.BlockID{}, err
		}
		if len(bz) == 0 {
			return bad("part %d of %d of the block is missing (the block store is truncated)", i, psh.Total)
		}
		var pbp cmtproto.Part
		if err := proto.Unmarshal(bz, &pbp); err != nil {
			return bad("part %d of the block does not decode (%v): the block store is corrupt", i, err)
		}
		p, err := types.PartFromProto(&pbp)
		if err != nil {
			return bad("part %d of the block is invalid (%v): the block store is corrupt", i, err)
		}
		if p.Index != uint32(i) {
			return bad("part %d of the block says it is part %d: the block store is corrupt", i, p.Index)
		}
		if added, err := ps.AddPart(p); err != nil || !added {
			return bad("part %d of the block does not match the block id's part set hash: the stored block was altered or is corrupt", i)
		}
	}
	raw, err := io.ReadAll(ps.GetReader())
	if err != nil {
		return bad("reading the block's parts: %v", err)
	}
	var pbb cmtproto.Block
	if err := proto.Unmarshal(raw, &pbb); err != nil {
		return bad("the block does not decode (%v): the block store is corrupt", err)
	}
	// BlockFromProto returns the decoded block with ValidateBasic's verdict:
	// a block that decodes but is invalid (say, its txs do not match its
	// data hash) is returned for the replay to judge and name.
	blk, err := types.BlockFromProto(&pbb)
	if blk == nil {
		return bad("the block does not decode (%v): the block store is corrupt", err)
	}
	if blk.Height != height {
		return bad("the stored block is for height %d: the block store is corrupt", blk.Height)
	}
	if got := blk.Hash(); !bytes.Equal(got, meta.BlockID.Hash) {
		return bad("the stored block's header hashes to %X, its block id says %X: the stored block was altered or is corrupt", got, []byte(meta.BlockID.Hash))
	}
	return blk, meta.BlockID, nil
}

// TxPosition looks a tx hash up in the home's tx index (CometBFT's kv
// indexer keys each committed tx by its hash).
func (h *Home) TxPosition(_ context.Context, hash []byte) (int64, uint32, bool, error) {
	if h.txIndex == nil {
		return 0, 0, false, errors.New("the home keeps no tx index")
	}
	bz, err := h.txIndex.Get(hash)
	if err != nil || len(bz) == 0 {
		return 0, 0, false, err
	}
	var tr abcitypes.TxResult
	if err := proto.Unmarshal(bz, &tr); err != nil {
		return 0, 0, false, fmt.Errorf("tx index entry does not decode: %w", err)
	}
	return tr.Height, tr.Index, true, nil
}

// Describe names the witness.
func (h *Home) Describe() string { return "the home's state (" + h.stateDir + ")" }

// AppState reads the commit point of the home's app state: the height and
// app hash abci/store's Commit recorded last. Badger is opened read-only.
func (h *Home) AppState(context.Context) (int64, []byte, bool, error) {
	if st, err := os.Stat(h.stateDir); err != nil || !st.IsDir() {
		return 0, nil, false, nil
	}
	db, err := badger.Open(stateBadgerOptions(h.stateDir))
	if err != nil {
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK) {
			return 0, nil, false, fmt.Errorf("%s is locked: a node is running on this home; stop it first, or replay over its RPC with --rpc", h.stateDir)
		}
		return 0, nil, false, fmt.Errorf("open the home's state %s read-only: %w", h.stateDir, err)
	}
	defer db.Close()
	var bz []byte
	err = db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(stateMetaKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		bz, err = it.ValueCopy(nil)
		return err
	})
	if err != nil {
		return 0, nil, false, fmt.Errorf("read the commit point of the home's state %s: %w", h.stateDir, err)
	}
	if bz == nil {
		return 0, nil, false, nil
	}
	height, hash, err := decodeStateMeta(bz)
	if err != nil {
		return 0, nil, false, fmt.Errorf("the home's state %s: %w", h.stateDir, err)
	}
	return height, hash, true, nil
}

// stateMetaKey and the record's layout are abci/store's commit point
// (abci/store/meta.go): format byte 1 | height, 8 bytes big endian | app
// hash, 32 bytes.
var stateMetaKey = []byte("\xffmedchain/meta")

const stateMetaSize = 1 + 8 + sha256.Size

func decodeStateMeta(bz []byte) (int64, []byte, error) {
	if len(bz) != stateMetaSize || bz[0] != 1 {
		return 0, nil, fmt.Errorf("its commit point is %d bytes of format %d, want %d bytes of format 1: the state is corrupt", len(bz), firstByte(bz), stateMetaSize)
	}
	h := binary.BigEndian.Uint64(bz[1:9])
	if h == 0 || h > 1<<62 {
		return 0, nil, fmt.Errorf("its commit point says height %d: the state is corrupt", h)
	}
	return int64(h), bytes.Clone(bz[9:]), nil
}

func firstByte(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}

// stateBadgerOptions opens the app state read-only with the sizes
// abci/store writes it with, quietly.
func stateBadgerOptions(dir string) badger.Options {
	return badger.DefaultOptions(dir).
		WithReadOnly(true).
		WithLogger(nil).
		WithMemTableSize(32 << 20).
		WithNumMemtables(2).
		WithValueThreshold(4 << 10).
		WithBlockCacheSize(8 << 20).
		WithIndexCacheSize(8 << 20).
		WithValueLogFileSize(128 << 20).
		WithNumCompactors(2).
		WithMetricsEnabled(false)
}

// Close closes the home's databases.
func (h *Home) Close() error {
	var errs []error
	if h.blocks != nil {
		errs = append(errs, h.blocks.Close())
	}
	if h.txIndex != nil {
		errs = append(errs, h.txIndex.Close())
	}
	return errors.Join(errs...)
}
