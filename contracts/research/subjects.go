package research

import (
	"fmt"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/records"
)

// Subjects lists, ascending, the pseudonyms hospital answers research
// queries for at height: patients it enrolled who had opted in to research
// at that height and whom it contributes for (records.Contributor). r must
// be the state committed at height — abci serves
// /research/subjects/<hospital>/<height> from that version — so every
// hospital partitions the alliance's patients from the same state, and the
// answer is one scan of the records contract's research-subject index.
// Hospitals' workers read it once per query (a list query, not consensus).
func Subjects(r contracts.Reader, hospital string, height int64) ([]string, error) {
	h, err := accounts.GetHospital(r, hospital)
	if err != nil {
		return nil, err
	}
	if h == nil || h.MemberIndex == 0 {
		return nil, fmt.Errorf("%w: %q is not a member hospital at height %d", ErrBadPath, hospital, height)
	}
	return records.SubjectsOf(r, hospital)
}
