package sharing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
	"github.com/medchain/medchain/node/recordcrypto"
)

// Scope is what a grant covers: record ids, or a filter of resource types
// and an inclusive date range (YYYYMMDD, 0 = open). A record is in a
// filter when all its types are listed and its date is in the range.
type Scope struct {
	RecordIDs     []string
	ResourceTypes []string
	DateFrom      uint32
	DateTo        uint32
}

func (s Scope) proto() *pb.GrantScope {
	ids := slices.Clone(s.RecordIDs)
	slices.Sort(ids)
	types := slices.Clone(s.ResourceTypes)
	slices.Sort(types)
	return &pb.GrantScope{RecordIds: slices.Compact(ids), ResourceTypes: slices.Compact(types), DateFrom: s.DateFrom, DateTo: s.DateTo}
}

// GrantRequest is a patient's grant to a doctor.
type GrantRequest struct {
	Grantee      string // the doctor's address
	Scope        Scope
	Purposes     []pb.Purpose
	ExpiryHeight int64 // the last height at which the grant is valid
	Forwardable  bool
}

// ForwardRequest is a doctor's forward of a grant it holds to a colleague.
type ForwardRequest struct {
	Parent   uint64
	Grantee  string
	Purposes []pb.Purpose // nil: the parent's
	// ExpiryHeight 0 is the parent's.
	ExpiryHeight int64
	Forwardable  bool
}

func sortedPurposes(ps []pb.Purpose) []pb.Purpose {
	out := slices.Clone(ps)
	slices.Sort(out)
	return slices.Compact(out)
}

// grantee reads a grant's recipient and returns its seal key: it must be
// an enrolled doctor with one.
func (c *Client) grantee(ctx context.Context, at int64, addr string) ([32]byte, error) {
	var pub [32]byte
	acc, err := c.accountAt(ctx, at, addr)
	if err != nil {
		return pub, err
	}
	switch {
	case acc == nil:
		return pub, fmt.Errorf("grantee %s has no account on this chain; its hospital enrols doctors (medchain doctor enrol)", addr)
	case acc.Role != pb.Role_ROLE_DOCTOR:
		return pub, fmt.Errorf("grantee %s is a %s; grants go to doctors", addr, roleName(acc.Role))
	case len(acc.SealPubkey) != len(pub):
		return pub, fmt.Errorf("doctor %s has no seal key; its hospital enrols it with medchain doctor enrol", addr)
	}
	copy(pub[:], acc.SealPubkey)
	return pub, nil
}

func roleName(r pb.Role) string { return strings.ToLower(strings.TrimPrefix(r.String(), "ROLE_")) }

// reseal opens a data key sealed to priv and seals it to pub, for record id.
func reseal(sealed []byte, id string, priv, pub [32]byte) ([]byte, error) {
	rid, err := parseHexID("record id", id)
	if err != nil {
		return nil, err
	}
	key, err := recordcrypto.OpenKey(sealed, rid[:], priv)
	if err != nil {
		return nil, err
	}
	defer clear(key[:])
	return recordcrypto.SealKey(key, rid[:], pub)
}

// CreateGrant grants a doctor access to some of the patient's records and
// returns the grant's id. For every record in scope the patient's copy of
// the data key is opened with its seal key and sealed to the doctor's;
// for a filter, the records already registered are keyed (up to
// records.MaxGrantRecords) and the custodians' gateways seal later ones at
// serve time.
func (c *Client) CreateGrant(ctx context.Context, patient *Identity, r GrantRequest) (uint64, error) {
	m := &pb.CreateGrant{Grantee: r.Grantee, Scope: r.Scope.proto(), Purposes: sortedPurposes(r.Purposes),
		ExpiryHeight: r.ExpiryHeight, Forwardable: r.Forwardable}
	if err := precheck(records.TypeGrant, m); err != nil {
		return 0, err
	}
	at, err := c.snapshot(ctx)
	if err != nil {
		return 0, err
	}
	me, err := c.accountAt(ctx, at, patient.Address())
	if err != nil {
		return 0, err
	}
	if me == nil || me.Role != pb.Role_ROLE_PATIENT || me.Pseudonym == "" {
		return 0, fmt.Errorf("key %q (%s) is not an enrolled patient's; a hospital enrols patients (medchain patient enrol)", patient.Name, patient.Address())
	}
	if !slices.Equal(me.SealPubkey, patient.SealPub[:]) {
		return 0, fmt.Errorf("key %q-seal is not the seal key the chain holds for %s", patient.Name, patient.Address())
	}
	docPub, err := c.grantee(ctx, at, r.Grantee)
	if err != nil {
		return 0, err
	}
	recs, err := c.recordsInScope(ctx, at, me.Pseudonym, m.Scope)
	if err != nil {
		return 0, err
	}
	for _, rec := range recs {
		sealed, err := reseal(rec.SealedKeyPatient, rec.Id, patient.SealPriv, docPub)
		if err != nil {
			return 0, fmt.Errorf("record %s: the data key sealed to the patient does not open with key %q-seal: %w", rec.Id, patient.Name, err)
		}
		m.Keys = append(m.Keys, &pb.SealedKey{RecordId: rec.Id, Sealed: sealed})
	}
	res, err := c.send(ctx, patient.Sign, records.TypeGrant, m)
	if err != nil {
		return 0, err
	}
	return eventNumber(res, records.EventGranted, "id")
}

// recordsInScope returns, ascending by id, the patient's records to key:
// every listed record (which must be the patient's and not erased), or
// the registered records a filter covers, at most MaxGrantRecords.
func (c *Client) recordsInScope(ctx context.Context, at int64, pseudonym string, s *pb.GrantScope) ([]*pb.Record, error) {
	var out []*pb.Record
	if len(s.RecordIds) > 0 {
		for _, id := range s.RecordIds {
			rec, err := c.recordAt(ctx, at, id)
			if err != nil {
				return nil, err
			}
			switch {
			case rec == nil:
				return nil, fmt.Errorf("record %s is not on this chain; list yours with medchain record list", id)
			case rec.Pseudonym != pseudonym:
				return nil, fmt.Errorf("record %s is not yours; a patient grants only its own records", id)
			case rec.Erased:
				return nil, fmt.Errorf("record %s was erased at height %d; leave it out", id, rec.ErasedHeight)
			}
			out = append(out, rec)
		}
		return out, nil
	}
	all, err := c.recordsOf(ctx, at, pseudonym)
	if err != nil {
		return nil, err
	}
	for _, rec := range all {
		if rec.Pseudonym == pseudonym && !rec.Erased && records.Covers(s, rec) {
			out = append(out, rec)
		}
	}
	slices.SortFunc(out, func(a, b *pb.Record) int { return strings.Compare(a.Id, b.Id) })
	out = slices.CompactFunc(out, func(a, b *pb.Record) bool { return a.Id == b.Id })
	out = out[:min(len(out), records.MaxGrantRecords)]
	// A list carries no proof: with proofs on, each record keyed is read
	// again, proved, so no node can slip in a record or a key the patient
	// would re-seal.
	if c.Prove {
		for i, rec := range out {
			p, err := c.recordAt(ctx, at, rec.Id)
			if err != nil {
				return nil, err
			}
			if p == nil || p.Pseudonym != pseudonym || p.Erased || !records.Covers(s, p) {
				return nil, fmt.Errorf("record %s: the node's list and its proved answer differ; try another node", rec.Id)
			}
			out[i] = p
		}
	}
	return out, nil
}

// ForwardGrant forwards a grant the doctor holds to a colleague (a
// consultation) and returns the forward's id: the doctor's own copies of
// the data keys are opened and sealed to the colleague. The chain decides
// whether the grant may be forwarded; a refusal is a *Refusal.
func (c *Client) ForwardGrant(ctx context.Context, doctor *Identity, r ForwardRequest) (uint64, error) {
	if _, err := ParseAddress(r.Grantee); err != nil {
		return 0, fmt.Errorf("grantee: %w", err)
	}
	at, err := c.snapshot(ctx)
	if err != nil {
		return 0, err
	}
	parent, err := c.grantAt(ctx, at, r.Parent)
	if err != nil {
		return 0, err
	}
	if parent == nil {
		return 0, fmt.Errorf("grant %d was never issued; list yours with medchain grant list --grantee %s", r.Parent, doctor.Address())
	}
	if parent.Grantee != doctor.Address() {
		return 0, fmt.Errorf("grant %d was issued to %s, not to key %q (%s); only its grantee forwards it", parent.Id, parent.Grantee, doctor.Name, doctor.Address())
	}
	m := &pb.ForwardGrant{Parent: parent.Id, Grantee: r.Grantee, Purposes: sortedPurposes(r.Purposes),
		ExpiryHeight: r.ExpiryHeight, Forwardable: r.Forwardable}
	if len(m.Purposes) == 0 {
		m.Purposes = parent.Purposes
	}
	if m.ExpiryHeight == 0 {
		m.ExpiryHeight = parent.ExpiryHeight
	}
	if err := precheck(records.TypeForward, m); err != nil {
		return 0, err
	}
	colleague, err := c.grantee(ctx, at, r.Grantee)
	if err != nil {
		return 0, err
	}
	for _, id := range parent.KeyedRecords {
		rec, err := c.recordAt(ctx, at, id)
		if err != nil {
			return 0, err
		}
		if rec == nil || rec.Erased {
			continue // erasure removed every copy; the chain wants none
		}
		mine, err := c.getRaw(ctx, at, fmt.Sprintf("/records/grantkey/%s/%d", id, parent.Id))
		if err != nil {
			return 0, err
		}
		if mine == nil {
			return 0, fmt.Errorf("grant %d lists a key copy for record %s that is not in state", parent.Id, id)
		}
		sealed, err := reseal(mine, id, doctor.SealPriv, colleague)
		if err != nil {
			return 0, fmt.Errorf("record %s: the key copy of grant %d does not open with key %q-seal: %w", id, parent.Id, doctor.Name, err)
		}
		m.Keys = append(m.Keys, &pb.SealedKey{RecordId: id, Sealed: sealed})
	}
	res, err := c.send(ctx, doctor.Sign, records.TypeForward, m)
	if err != nil {
		return 0, err
	}
	return eventNumber(res, records.EventForwarded, "id")
}

// RevokeGrant revokes a grant and, with it, every forward below it. The
// signer is the patient of the grant's tree, or the doctor who made the
// forward.
func (c *Client) RevokeGrant(ctx context.Context, signer *Identity, grant uint64) error {
	if grant == 0 {
		return errors.New("grant id 0: grant ids start at 1")
	}
	_, err := c.send(ctx, signer.Sign, records.TypeRevoke, &pb.RevokeGrant{Grant: grant})
	return err
}
