package records

import (
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/pb"
)

// The research-subject index answers "whom does hospital H count in a
// query asked at height X" with one prefix scan of state at version X,
// instead of a walk over every patient of the alliance. A patient is in
// the index, under exactly one hospital, while its latest research choice
// is opt-in; the hospital is its Contributor. Every tx that can change
// either — an enrolment or link, a consent, the registration or erasure of
// an Encounter record of a patient enrolled at several hospitals — calls
// refreshSubject for that patient in the same tx.

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

// refreshSubject puts patient p (pseudonym pid) in the research-subject
// index under its contributor if its latest choice is opt-in, and nowhere
// otherwise, and emits an EventSubject for each entry it adds or removes.
func refreshSubject(ctx *contracts.Context, pid [32]byte, p *pb.Patient) error {
	w := ctx.Store
	want := ""
	c, err := ConsentAt(w, pid, math.MaxInt64)
	if err != nil {
		return err
	}
	if c != nil && c.Research == pb.Consent_CONSENT_OPT_IN {
		if want, err = contributorOf(w, pid, p); err != nil {
			return err
		}
	}
	for _, h := range p.Hospitals {
		k := subjectKey(h, pid)
		v, err := w.Get(k)
		if err != nil {
			return err
		}
		switch {
		case h == want && v == nil:
			err = w.Set(k, []byte{1})
		case h != want && v != nil:
			err = w.Delete(k)
		default:
			continue
		}
		if err != nil {
			return err
		}
		ctx.Emit(EventSubject, attr("hospital", h), attr("pseudonym", p.Pseudonym), attr("subject", strconv.FormatBool(h == want)))
	}
	return nil
}

// contributorOf is p's contributing hospital (Contributor over its records).
func contributorOf(r contracts.Reader, pid [32]byte, p *pb.Patient) (string, error) {
	if len(p.Hospitals) == 1 {
		return p.Hospitals[0], nil
	}
	recs, err := RecordsOfPatient(r, pid)
	if err != nil {
		return "", err
	}
	hs, err := accounts.Hospitals(r)
	if err != nil {
		return "", err
	}
	index := make(map[string]uint64, len(hs))
	for _, h := range hs {
		index[h.Id] = h.MemberIndex
	}
	return Contributor(recs, p.Hospitals, index), nil
}

// refreshSubjectAfter is refreshSubject after a change to one of the
// records of patient pseudonym: only an Encounter of a patient enrolled at
// several hospitals can move it to another contributor.
func refreshSubjectAfter(ctx *contracts.Context, pseudonym string, rec *pb.Record) error {
	if !slices.Contains(rec.ResourceTypes, "Encounter") {
		return nil
	}
	pid, err := ParseID("pseudonym", pseudonym)
	if err != nil {
		return err
	}
	p, err := GetPatient(ctx.Store, pid)
	if err != nil {
		return err
	}
	if p == nil {
		return fmt.Errorf("records: record %s names patient %s, who is not in state", rec.Id, pseudonym) // broken invariant
	}
	if len(p.Hospitals) < 2 {
		return nil
	}
	return refreshSubject(ctx, pid, p)
}

// SubjectsOf lists, ascending, the pseudonyms of the research subjects
// hospital contributes for in r: read r at a query's height for the
// subjects of that query.
func SubjectsOf(r contracts.Reader, hospital string) ([]string, error) {
	if hospital == "" || len(hospital) > 255 {
		return nil, fmt.Errorf("%w: hospital id %.40q", contracts.ErrInvalidPayload, hospital)
	}
	b := subjectSpan(hospital)
	ks, err := keysIn(r, b)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = hex.EncodeToString(k[len(b.start):])
	}
	return out, nil
}
