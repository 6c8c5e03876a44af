package hework

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// What the worker keeps in the keyring, one sealed record per name:
//
//	he-epoch-<e>-ceremony   its secret share, the Shamir share it dealt to
//	                        itself, and the exact PostKeyShare payload
//	he-epoch-<e>-threshold  its threshold secret for epoch e
//	he-request-<id>-ks      the exact PostKeySwitchShare payload for request id
//
// Each record names its chain, epoch and member index or request id, so a
// record can never be used for another chain or another duty.

func ceremonyName(epoch uint64) string  { return fmt.Sprintf("he-epoch-%d-ceremony", epoch) }
func thresholdName(epoch uint64) string { return fmt.Sprintf("he-epoch-%d-threshold", epoch) }
func ksName(request uint64) string      { return fmt.Sprintf("he-request-%d-ks", request) }

// parseKSName returns the request id of a ks record name.
func parseKSName(name string) (uint64, bool) {
	var id uint64
	if _, err := fmt.Sscanf(name, "he-request-%d-ks", &id); err != nil || ksName(id) != name {
		return 0, false
	}
	return id, true
}

// recordKind says what a record holds, and how many fields.
type recordKind byte

const (
	kindCeremony  recordKind = 1 // fields: secret share, own threshold share, PostKeyShare payload
	kindThreshold recordKind = 2 // fields: threshold secret
	kindKS        recordKind = 3 // fields: PostKeySwitchShare payload
)

var kindFields = map[recordKind]int{kindCeremony: 3, kindThreshold: 1, kindKS: 1}

const (
	recordMagic   = "mchw"
	recordVersion = 1
	maxChainID    = 64
)

// record is one persisted secret of the worker.
//
//	"mchw" | version u8 | kind u8 | len(chain id) u8 | chain id |
//	epoch u64 | id u64 (member index, or request id for kindKS) |
//	for each field: len u32 | bytes
type record struct {
	Kind    recordKind
	ChainID string
	Epoch   uint64
	ID      uint64
	Fields  [][]byte
}

func (r *record) encode() ([]byte, error) {
	if n, ok := kindFields[r.Kind]; !ok || len(r.Fields) != n {
		return nil, fmt.Errorf("hework: record kind %d with %d fields", r.Kind, len(r.Fields))
	}
	if len(r.ChainID) == 0 || len(r.ChainID) > maxChainID {
		return nil, fmt.Errorf("hework: chain id of %d bytes", len(r.ChainID))
	}
	size := len(recordMagic) + 3 + len(r.ChainID) + 16
	for _, f := range r.Fields {
		size += 4 + len(f)
	}
	b := make([]byte, 0, size)
	b = append(b, recordMagic...)
	b = append(b, recordVersion, byte(r.Kind), byte(len(r.ChainID)))
	b = append(b, r.ChainID...)
	b = binary.BigEndian.AppendUint64(b, r.Epoch)
	b = binary.BigEndian.AppendUint64(b, r.ID)
	for _, f := range r.Fields {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b, nil
}

var errBadRecord = errors.New("hework: malformed stored record")

// decodeRecord parses b strictly: known kind, exact field count, no
// trailing bytes. It never panics. The fields alias b.
func decodeRecord(b []byte) (*record, error) {
	bad := func(format string, a ...any) (*record, error) {
		return nil, fmt.Errorf("%w: %s", errBadRecord, fmt.Sprintf(format, a...))
	}
	if len(b) < len(recordMagic)+3 || string(b[:len(recordMagic)]) != recordMagic {
		return bad("no %q header", recordMagic)
	}
	b = b[len(recordMagic):]
	if b[0] != recordVersion {
		return bad("version %d, want %d", b[0], recordVersion)
	}
	r := &record{Kind: recordKind(b[1])}
	nf, ok := kindFields[r.Kind]
	if !ok {
		return bad("unknown kind %d", b[1])
	}
	cl := int(b[2])
	b = b[3:]
	if cl == 0 || cl > maxChainID || len(b) < cl+16 {
		return bad("truncated header")
	}
	r.ChainID = string(b[:cl])
	b = b[cl:]
	r.Epoch = binary.BigEndian.Uint64(b)
	r.ID = binary.BigEndian.Uint64(b[8:])
	b = b[16:]
	for range nf {
		if len(b) < 4 {
			return bad("truncated field")
		}
		n := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(n) > uint64(len(b)) {
			return bad("field of %d bytes, %d left", n, len(b))
		}
		r.Fields = append(r.Fields, b[:n:n])
		b = b[n:]
	}
	if len(b) != 0 {
		return bad("%d trailing bytes", len(b))
	}
	return r, nil
}

// check fails unless r is of kind k for chainID, epoch and id.
func (r *record) check(k recordKind, chainID string, epoch, id uint64) error {
	if r.Kind != k || r.ChainID != chainID || r.Epoch != epoch || r.ID != id {
		return fmt.Errorf("%w: it is kind %d for chain %q epoch %d id %d, want kind %d for chain %q epoch %d id %d",
			errBadRecord, r.Kind, r.ChainID, r.Epoch, r.ID, k, chainID, epoch, id)
	}
	return nil
}
