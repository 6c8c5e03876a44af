package research

import "encoding/binary"

// State keys of this contract.
const (
	prefixQuery        = 0x50 // id(8) → ResearchQuery
	prefixActive       = 0x51 // id(8) → id(8): queries not yet released, refused or failed
	prefixByResearcher = 0x52 // address(20) id(8) → id(8)
	prefixContribution = 0x53 // id(8) member(8) → Contribution
	prefixBudget       = 0x54 // address(20) → Budget
	prefixNextID       = 0x55 // → next query id(8)
)

func u64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// QueryKey is the state key of query id.
func QueryKey(id uint64) []byte { return u64([]byte{prefixQuery}, id) }

func activeKey(id uint64) []byte { return u64([]byte{prefixActive}, id) }

func byResearcherKey(addr [20]byte, id uint64) []byte {
	return u64(append([]byte{prefixByResearcher}, addr[:]...), id)
}

// ContributionKey is the state key of member's contribution to query id.
func ContributionKey(id, member uint64) []byte {
	return u64(u64([]byte{prefixContribution}, id), member)
}

// BudgetKey is the state key of a researcher's budget ledger.
func BudgetKey(addr [20]byte) []byte { return append([]byte{prefixBudget}, addr[:]...) }

func nextIDKey() []byte { return []byte{prefixNextID} }
