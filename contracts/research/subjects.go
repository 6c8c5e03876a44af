package research

import (
	"fmt"
	"slices"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
)

// Subjects lists, ascending, the pseudonyms hospital answers research
// queries for at height: patients it enrolled who had opted in to research
// at that height and whom it contributes for the alliance (Contributor).
// Hospitals' workers read it once per query (a list query, not consensus).
func Subjects(r contracts.Reader, hospital string, height int64) ([]string, error) {
	hs, err := accounts.Hospitals(r)
	if err != nil {
		return nil, err
	}
	index := map[string]uint64{}
	for _, h := range hs {
		index[h.Id] = h.MemberIndex
	}
	if index[hospital] == 0 {
		return nil, fmt.Errorf("%w: %q is not a member hospital", ErrBadPath, hospital)
	}
	var out []string
	err = records.EachPatient(r, func(p *pb.Patient) error {
		if !slices.Contains(p.Hospitals, hospital) {
			return nil
		}
		pid, err := records.ParseID("pseudonym", p.Pseudonym)
		if err != nil {
			return err
		}
		ok, err := records.ResearchAllowed(r, pid, height)
		if err != nil || !ok {
			return err
		}
		if len(p.Hospitals) > 1 {
			recs, err := records.RecordsOfPatient(r, pid)
			if err != nil {
				return err
			}
			if Contributor(recs, p.Hospitals, index) != hospital {
				return nil
			}
		}
		out = append(out, p.Pseudonym)
		return nil
	})
	return out, err
}

// Contributor picks, among the hospitals that enrolled a person, the one
// that answers research queries for it: the one whose earliest Encounter
// record is earliest; ties, and hospitals without one, go to the lowest
// member index (node/synth/TRUTH.md, "de-duplication").
func Contributor(recs []*pb.Record, hospitals []string, index map[string]uint64) string {
	first := map[string]uint32{}
	for _, r := range recs {
		if r.Erased || !slices.Contains(r.ResourceTypes, "Encounter") {
			continue
		}
		if d, ok := first[r.Custodian]; !ok || r.Date < d {
			first[r.Custodian] = r.Date
		}
	}
	best := ""
	for _, h := range hospitals {
		if best == "" {
			best = h
			continue
		}
		d, ok := first[h]
		bd, bok := first[best]
		switch {
		case ok && (!bok || d < bd):
			best = h
		case ok == bok && (!ok || d == bd) && index[h] < index[best]:
			best = h
		}
	}
	return best
}
