package governance

import "encoding/binary"

// State keys of this contract.
const (
	prefixProposal = 0x60 // id(8) → Proposal
	prefixOpen     = 0x61 // deadline(8) id(8) → id(8): open proposals by deadline
	prefixNextID   = 0x62 // → next proposal id(8)
)

func u64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// ProposalKey is the state key of proposal id.
func ProposalKey(id uint64) []byte { return u64([]byte{prefixProposal}, id) }

// ProposalPrefix bounds the range of all proposal records.
func ProposalPrefix() (start, end []byte) { return []byte{prefixProposal}, []byte{prefixProposal + 1} }

// openKey indexes an open proposal by its deadline, so EndBlock finds the
// expired ones with one range scan.
func openKey(deadline int64, id uint64) []byte {
	return u64(u64([]byte{prefixOpen}, uint64(deadline)), id)
}

// parseOpenKey returns the deadline and id of an openKey.
func parseOpenKey(k []byte) (deadline int64, id uint64, ok bool) {
	if len(k) != 17 || k[0] != prefixOpen {
		return 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(k[1:9])), binary.BigEndian.Uint64(k[9:]), true
}

func nextIDKey() []byte { return []byte{prefixNextID} }
