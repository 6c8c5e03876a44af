package records

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
)

// get and set are this contract's names for the shared record codec.
var (
	get = contracts.GetRecord
	set = contracts.SetRecord
)

// GetPatient returns the patient with pseudonym pid, or nil.
func GetPatient(r contracts.Reader, pid [32]byte) (*pb.Patient, error) {
	var p pb.Patient
	ok, err := get(r, PatientKey(pid), &p)
	if !ok || err != nil {
		return nil, err
	}
	return &p, nil
}

// GetRecord returns the record rid, or nil.
func GetRecord(r contracts.Reader, rid [32]byte) (*pb.Record, error) {
	var rec pb.Record
	ok, err := get(r, RecordKey(rid), &rec)
	if !ok || err != nil {
		return nil, err
	}
	return &rec, nil
}

// GetGrant returns grant id, or nil.
func GetGrant(r contracts.Reader, id uint64) (*pb.Grant, error) {
	var g pb.Grant
	ok, err := get(r, GrantKey(id), &g)
	if !ok || err != nil {
		return nil, err
	}
	return &g, nil
}

// GetAccess returns access entry id, or nil.
func GetAccess(r contracts.Reader, id uint64) (*pb.AccessEntry, error) {
	var e pb.AccessEntry
	ok, err := get(r, AccessKey(id), &e)
	if !ok || err != nil {
		return nil, err
	}
	return &e, nil
}

// GetGateway returns a hospital's published gateway, or nil.
func GetGateway(r contracts.Reader, hospital string) (*pb.Gateway, error) {
	var g pb.Gateway
	ok, err := get(r, GatewayKey(hospital), &g)
	if !ok || err != nil {
		return nil, err
	}
	return &g, nil
}

// GetKeyCopy returns record rid's data key sealed to the grantee of grant,
// or nil.
func GetKeyCopy(r contracts.Reader, rid [32]byte, grant uint64) ([]byte, error) {
	return r.Get(KeyCopyKey(rid, grant))
}

// keysIn returns the keys of [start, end), ascending.
func keysIn(r contracts.Reader, b bounds) ([][]byte, error) {
	it, err := r.Iterator(b.start, b.end, true)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for ; it.Valid(); it.Next() {
		out = append(out, bytes.Clone(it.Key()))
	}
	err = it.Error()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	return out, err
}

// idsIn returns the trailing 8-byte ids of the keys of [start, end).
func idsIn(r contracts.Reader, b bounds) ([]uint64, error) {
	ks, err := keysIn(r, b)
	if err != nil {
		return nil, err
	}
	out := make([]uint64, 0, len(ks))
	for _, k := range ks {
		out = append(out, binary.BigEndian.Uint64(k[len(k)-8:]))
	}
	return out, nil
}

// RecordsOfPatient lists every record about patient pid, at every
// hospital, erased ones included, in record id order.
func RecordsOfPatient(r contracts.Reader, pid [32]byte) ([]*pb.Record, error) {
	ks, err := keysIn(r, patientRecordSpan(pid))
	if err != nil {
		return nil, err
	}
	out := make([]*pb.Record, 0, len(ks))
	for _, k := range ks {
		var rid [32]byte
		copy(rid[:], k[1+32:])
		rec, err := GetRecord(r, rid)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			return nil, fmt.Errorf("records: index names record %x, which is not in state", rid)
		}
		out = append(out, rec)
	}
	return out, nil
}

func grantsByID(r contracts.Reader, ids []uint64) ([]*pb.Grant, error) {
	out := make([]*pb.Grant, 0, len(ids))
	for _, id := range ids {
		g, err := GetGrant(r, id)
		if err != nil {
			return nil, err
		}
		if g == nil {
			return nil, fmt.Errorf("records: index names grant %d, which is not in state", id)
		}
		out = append(out, g)
	}
	return out, nil
}

// GrantsOfPatient lists every grant and forward of patient pid's trees,
// in id order.
func GrantsOfPatient(r contracts.Reader, pid [32]byte) ([]*pb.Grant, error) {
	ids, err := idsIn(r, patientGrantSpan(pid))
	if err != nil {
		return nil, err
	}
	return grantsByID(r, ids)
}

// GrantsOfGrantee lists the grants a doctor received, in id order.
func GrantsOfGrantee(r contracts.Reader, addr [20]byte) ([]*pb.Grant, error) {
	ids, err := idsIn(r, granteeGrantSpan(addr))
	if err != nil {
		return nil, err
	}
	return grantsByID(r, ids)
}

func accessesByID(r contracts.Reader, ids []uint64) ([]*pb.AccessEntry, error) {
	out := make([]*pb.AccessEntry, 0, len(ids))
	for _, id := range ids {
		e, err := GetAccess(r, id)
		if err != nil {
			return nil, err
		}
		if e == nil {
			return nil, fmt.Errorf("records: index names access entry %d, which is not in state", id)
		}
		out = append(out, e)
	}
	return out, nil
}

// AccessesOfRecord lists the access entries of a record, in id order.
func AccessesOfRecord(r contracts.Reader, rid [32]byte) ([]*pb.AccessEntry, error) {
	ids, err := idsIn(r, recordAccessSpan(rid))
	if err != nil {
		return nil, err
	}
	return accessesByID(r, ids)
}

// AccessesOfDoctor lists a doctor's access entries, in id order.
func AccessesOfDoctor(r contracts.Reader, addr [20]byte) ([]*pb.AccessEntry, error) {
	ids, err := idsIn(r, doctorAccessSpan(addr))
	if err != nil {
		return nil, err
	}
	return accessesByID(r, ids)
}

// OpenReviews lists the break-glass entries no reviewer has closed yet, in
// id order; custodian, if not empty, keeps those of that hospital's records.
func OpenReviews(r contracts.Reader, custodian string) ([]*pb.AccessEntry, error) {
	ids, err := idsIn(r, openReviewSpan())
	if err != nil {
		return nil, err
	}
	all, err := accessesByID(r, ids)
	if err != nil || custodian == "" {
		return all, err
	}
	out := all[:0]
	for _, e := range all {
		if e.Custodian == custodian {
			out = append(out, e)
		}
	}
	return out, nil
}

// ConsentHistory lists patient pid's research consent choices, ascending
// by height (at most one per height: the block's last).
func ConsentHistory(r contracts.Reader, pid [32]byte) ([]*pb.ConsentRecord, error) {
	b := consentSpan(pid)
	it, err := r.Iterator(b.start, b.end, true)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []*pb.ConsentRecord
	for ; it.Valid(); it.Next() {
		var c pb.ConsentRecord
		if err := tx.Unmarshal(it.Value(), &c); err != nil {
			return nil, fmt.Errorf("state record %x: %w", it.Key(), err)
		}
		out = append(out, &c)
	}
	return out, it.Error()
}

// ConsentAt returns the consent choice of patient pid in force at height:
// the last one set at or below it, or nil if the patient never chose.
func ConsentAt(r contracts.Reader, pid [32]byte, height int64) (*pb.ConsentRecord, error) {
	if height < 0 {
		return nil, nil
	}
	b := consentSpan(pid)
	if height < math.MaxInt64 {
		b.end = ConsentKey(pid, height+1)
	}
	it, err := r.Iterator(b.start, b.end, false)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	if !it.Valid() {
		return nil, it.Error()
	}
	var c pb.ConsentRecord
	if err := tx.Unmarshal(it.Value(), &c); err != nil {
		return nil, fmt.Errorf("state record %x: %w", it.Key(), err)
	}
	return &c, nil
}

// ResearchAllowed reports whether patient pid had opted in to research at
// height. Deny by default: no choice, or opt-out, is false.
func ResearchAllowed(r contracts.Reader, pid [32]byte, height int64) (bool, error) {
	c, err := ConsentAt(r, pid, height)
	if err != nil || c == nil {
		return false, err
	}
	return c.Research == pb.Consent_CONSENT_OPT_IN, nil
}

// nextID returns the next id of a counter (1 first) and advances it.
func nextID(w contracts.KVStore, kind byte) (uint64, error) {
	var id uint64 = 1
	b, err := w.Get(counterKey(kind))
	if err != nil {
		return 0, err
	}
	if b != nil {
		if len(b) != 8 {
			return 0, fmt.Errorf("records: counter %d is %d bytes", kind, len(b))
		}
		id = binary.BigEndian.Uint64(b)
	}
	return id, w.Set(counterKey(kind), u64(nil, id+1))
}

// GrantValidAt checks grant id and every grant above it, up to the
// patient's own grant: none revoked, none expired at height. It returns
// the grant, or an error wrapping ErrNotFound (never issued) or ErrDenied
// (expired or revoked, saying which link). The gateway calls it too, on
// committed state, before serving an access entry's ciphertext.
func GrantValidAt(r contracts.Reader, id uint64, height int64) (*pb.Grant, error) {
	g, err := GetGrant(r, id)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, fmt.Errorf("%w: grant %d was never issued", contracts.ErrNotFound, id)
	}
	if err := checkChain(r, g, height); err != nil {
		return nil, err
	}
	return g, nil
}

// checkChain walks from g up to its root. Revocation writes one flag on
// one grant; this walk makes it cut everything below at once. The walk is
// at most MaxForwardDepth+1 reads. A denial wraps ErrDenied.
func checkChain(r contracts.Reader, g *pb.Grant, height int64) error {
	reason, detail, err := chainVerdict(r, g, height)
	if err != nil || reason == "" {
		return err
	}
	return deny(reason, "%s", detail)
}

// chainVerdict returns the reason and detail of a denial, "" if every link
// is valid at height, or a storage error.
func chainVerdict(r contracts.Reader, g *pb.Grant, height int64) (reason, detail string, err error) {
	cur := g
	for step := 0; ; step++ {
		below := ""
		if cur.Id != g.Id {
			below = fmt.Sprintf(" (grant %d is below it)", g.Id)
		}
		if cur.Revoked {
			return reasonRevoked, fmt.Sprintf("grant %d was revoked at height %d%s", cur.Id, cur.RevokedHeight, below), nil
		}
		if height > cur.ExpiryHeight {
			return reasonExpired, fmt.Sprintf("grant %d expired after height %d (now %d)%s", cur.Id, cur.ExpiryHeight, height, below), nil
		}
		if cur.Parent == 0 {
			return "", "", nil
		}
		if step >= MaxForwardDepth {
			return "", "", fmt.Errorf("records: grant %d has a chain deeper than %d", g.Id, MaxForwardDepth) // broken invariant
		}
		parent, err := GetGrant(r, cur.Parent)
		if err != nil {
			return "", "", err
		}
		if parent == nil {
			return "", "", fmt.Errorf("records: grant %d names parent %d, which is not in state", cur.Id, cur.Parent) // broken invariant
		}
		cur = parent
	}
}

// EachPatient calls fn with every enrolled patient, in pseudonym order,
// until fn returns an error.
func EachPatient(r contracts.Reader, fn func(*pb.Patient) error) error {
	it, err := r.Iterator([]byte{prefixPatient}, []byte{prefixPatient + 1}, true)
	if err != nil {
		return err
	}
	defer it.Close()
	for ; it.Valid(); it.Next() {
		var p pb.Patient
		if err := tx.Unmarshal(it.Value(), &p); err != nil {
			return fmt.Errorf("state record %x: %w", it.Key(), err)
		}
		if err := fn(&p); err != nil {
			return err
		}
	}
	return it.Error()
}
