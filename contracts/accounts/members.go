package accounts

import (
	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
)

// SetHospital writes h (governance admits and removes members with it).
func SetHospital(w contracts.KVStore, h *pb.Hospital) error { return set(w, HospitalKey(h.Id), h) }

// Members lists, in id order, the hospitals that are members now: every
// hospital the alliance has not removed.
func Members(r contracts.Reader) ([]*pb.Hospital, error) {
	hs, err := Hospitals(r)
	if err != nil {
		return nil, err
	}
	out := hs[:0]
	for _, h := range hs {
		if h.RemovedHeight == 0 {
			out = append(out, h)
		}
	}
	return out, nil
}

// NextMemberIndex is the member index a newly admitted hospital gets: one
// more than any hospital ever had, so an index is never reused.
func NextMemberIndex(r contracts.Reader) (uint64, error) {
	hs, err := Hospitals(r)
	if err != nil {
		return 0, err
	}
	var top uint64
	for _, h := range hs {
		top = max(top, h.MemberIndex)
	}
	return top + 1, nil
}
