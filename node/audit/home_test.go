package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	cmtstore "github.com/cometbft/cometbft/proto/tendermint/store"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	"github.com/cometbft/cometbft/types"
	"github.com/cosmos/gogoproto/proto"
)

// storedBlock returns a valid block at height 1 as CometBFT's block store
// keeps it: its meta record and its parts.
func storedBlock(t testing.TB, txs ...[]byte) (meta []byte, parts [][]byte) {
	t.Helper()
	var ts types.Txs
	for _, tx := range txs {
		ts = append(ts, tx)
	}
	b := types.MakeBlock(1, ts, &types.Commit{}, nil)
	b.ChainID = "medchain-test"
	b.Time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b.ProposerAddress = bytes.Repeat([]byte{7}, 20)
	b.ValidatorsHash = bytes.Repeat([]byte{1}, 32)
	b.NextValidatorsHash = bytes.Repeat([]byte{1}, 32)
	b.AppHash = bytes.Repeat([]byte{2}, 32)
	ps, err := b.MakePartSet(types.BlockPartSizeBytes)
	if err != nil {
		t.Fatal(err)
	}
	meta, err = proto.Marshal(types.NewBlockMeta(b, ps).ToProto())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < int(ps.Total()); i++ {
		pp, err := ps.GetPart(i).ToProto()
		if err != nil {
			t.Fatal(err)
		}
		bz, err := proto.Marshal(pp)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, bz)
	}
	return meta, parts
}

func partsFunc(parts [][]byte) func(int) ([]byte, error) {
	return func(i int) ([]byte, error) {
		if i < len(parts) {
			return parts[i], nil
		}
		return nil, nil
	}
}

func TestAssembleBlock(t *testing.T) {
	meta, parts := storedBlock(t, []byte("tx one"), []byte("tx two"))
	big := bytes.Repeat([]byte("x"), 3*int(types.BlockPartSizeBytes))
	bigMeta, bigParts := storedBlock(t, big)
	garbledPart := bytes.Clone(parts[0])
	garbledPart[len(garbledPart)-40] ^= 1
	cases := []struct {
		name  string
		meta  []byte
		parts [][]byte
		want  string // "" = the block decodes
	}{
		{"a stored block decodes to its txs", meta, parts, ""},
		{"a block of several parts decodes", bigMeta, bigParts, ""},
		{"a missing meta is a truncated store", nil, parts, "missing from the block store"},
		{"a meta that does not decode is a corrupt store", []byte{0xff, 0xff, 0xff}, parts, "does not decode"},
		{"a missing part is a truncated store", bigMeta, bigParts[:2], "part 2 of 4 of the block is missing"},
		{"a garbled part fails its proof", meta, [][]byte{garbledPart}, ""},
		{"parts that do not decode are a corrupt store", meta, [][]byte{{0x0a, 0xff}}, "part 0 of the block"},
		{"parts of another block fail the proofs", meta, bigParts[:1], "part set hash"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, id, err := assembleBlock(1, tc.meta, partsFunc(tc.parts))
			if tc.name == "a garbled part fails its proof" {
				// Which check fires depends on where the flipped bit lands;
				// it is never accepted.
				if err == nil {
					t.Fatal("a garbled part was accepted")
				}
				return
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if b.Height != 1 || !bytes.Equal(b.Hash(), id.Hash) {
					t.Fatalf("block %d hash %X, id %v", b.Height, b.Hash(), id)
				}
				return
			}
			var ue *UnreadableError
			if !errors.As(err, &ue) || ue.Height != 1 || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an unreadable height 1 saying %q", err, tc.want)
			}
		})
	}
	t.Run("a block stored at another height is refused", func(t *testing.T) {
		if _, _, err := assembleBlock(2, meta, partsFunc(parts)); err == nil || !strings.Contains(err.Error(), "height 2: the block's meta record is for height 1") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestDecodeBlockStoreState(t *testing.T) {
	enc := func(base, height int64) []byte {
		bz, err := proto.Marshal(&cmtstore.BlockStoreState{Base: base, Height: height})
		if err != nil {
			t.Fatal(err)
		}
		return bz
	}
	cases := []struct {
		name       string
		in         []byte
		base, last int64
		want       string
	}{
		{"an absent record is an empty store", nil, 0, 0, ""},
		{"a full store reads its base and height", enc(1, 120), 1, 120, ""},
		{"a pruned store reads its base", enc(50, 120), 50, 120, ""},
		{"a base above the height is corrupt", enc(121, 120), 0, 0, "corrupt"},
		{"a negative height is corrupt", enc(1, -4), 0, 0, "corrupt"},
		{"bytes that do not decode are corrupt", []byte{0xff, 0x01}, 0, 0, "does not decode"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base, last, err := decodeBlockStoreState(tc.in)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want an error with %q", err, tc.want)
				}
				return
			}
			if err != nil || base != tc.base || last != tc.last {
				t.Fatalf("got %d, %d, %v; want %d, %d", base, last, err, tc.base, tc.last)
			}
		})
	}
}

func stateMeta(format byte, height uint64, hash []byte) []byte {
	bz := []byte{format}
	bz = binary.BigEndian.AppendUint64(bz, height)
	return append(bz, hash...)
}

func TestDecodeStateMeta(t *testing.T) {
	hash := sha256.Sum256([]byte("state"))
	cases := []struct {
		name   string
		in     []byte
		height int64
		want   string
	}{
		{"the commit point abci/store writes decodes", stateMeta(1, 42, hash[:]), 42, ""},
		{"another format is corrupt", stateMeta(2, 42, hash[:]), 0, "format 2"},
		{"a short record is corrupt", stateMeta(1, 42, hash[:5]), 0, "14 bytes"},
		{"height 0 is corrupt", stateMeta(1, 0, hash[:]), 0, "height 0"},
		{"an empty record is corrupt", nil, 0, "0 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, got, err := decodeStateMeta(tc.in)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want an error with %q", err, tc.want)
				}
				return
			}
			if err != nil || h != tc.height || !bytes.Equal(got, hash[:]) {
				t.Fatalf("got %d %X %v", h, got, err)
			}
		})
	}
}

// FuzzAssembleBlock: whatever bytes a block store holds, decoding a block
// returns a block that hashes to its id, or an error naming the height;
// never a panic.
func FuzzAssembleBlock(f *testing.F) {
	meta, parts := storedBlock(f, []byte("tx one"), []byte("tx two"))
	f.Add(meta, parts[0])
	f.Add([]byte{}, []byte{})
	var pbm cmtproto.BlockMeta
	if err := proto.Unmarshal(meta, &pbm); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, meta, part []byte) {
		b, id, err := assembleBlock(1, meta, func(int) ([]byte, error) { return part, nil })
		if err != nil {
			var ue *UnreadableError
			if !errors.As(err, &ue) || ue.Height != 1 {
				t.Fatalf("error %v does not name height 1", err)
			}
			return
		}
		if b.Height != 1 || !bytes.Equal(b.Hash(), id.Hash) {
			t.Fatalf("accepted block %d that does not hash to its id", b.Height)
		}
	})
}

// FuzzDecodeRecords: the block store's state record and the app state's
// commit point decode or are refused, never panic.
func FuzzDecodeRecords(f *testing.F) {
	hash := sha256.Sum256(nil)
	f.Add(stateMeta(1, 7, hash[:]))
	f.Add([]byte{0x08, 0x01, 0x10, 0x78})
	f.Fuzz(func(t *testing.T, bz []byte) {
		if base, last, err := decodeBlockStoreState(bz); err == nil && (base < 0 || last < 0 || base > last) {
			t.Fatalf("accepted base %d height %d", base, last)
		}
		if h, got, err := decodeStateMeta(bz); err == nil && (h <= 0 || len(got) != sha256.Size) {
			t.Fatalf("accepted height %d hash %X", h, got)
		}
	})
}
