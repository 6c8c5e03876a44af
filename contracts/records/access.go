package records

import (
	"fmt"
	"slices"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
)

// validateAccess checks the shape only. Every rule (a reason for
// break-glass, a grant, the purpose) is decided in Exec, so a refused
// attempt lands in its block for auditors to see.
func validateAccess(m *pb.RequestAccess) error {
	if _, err := ParseID("record_id", m.RecordId); err != nil {
		return err
	}
	if _, ok := pb.Purpose_name[int32(m.Purpose)]; !ok || m.Purpose == pb.Purpose_PURPOSE_UNSPECIFIED {
		return fmt.Errorf("purpose %s: give treatment, consultation, referral or emergency", m.Purpose)
	}
	return checkText("reason", m.Reason, MaxReasonBytes, false)
}

// Decision is the outcome of an access request. Its zero value denies.
type Decision struct {
	Allowed bool
	// Reason and Detail say why a request is denied.
	Reason, Detail string
	Record         *pb.Record
	// KeySource tells the gateway where the reader's data key is.
	KeySource pb.KeySource
}

// Err returns nil for an allowed decision, else an error wrapping
// contracts.ErrDenied with the reason.
func (d Decision) Err() error {
	if d.Allowed {
		return nil
	}
	if d.Reason == "" {
		return deny("undecided", "no rule allowed the request") // unreachable: every denial names its reason
	}
	return deny(d.Reason, "%s", d.Detail)
}

func denied(reason, format string, a ...any) Decision {
	return Decision{Reason: reason, Detail: fmt.Sprintf(format, a...)}
}

// Decide applies the access rules to doctor's request at height, on state
// r; it writes nothing. A doctor may read a record that is not erased
//   - under a grant: issued to it, valid at height up its whole chain
//     (checkChain), of the record's patient, covering the record, for a
//     purpose the grant lists; or
//   - by breaking the glass: with the emergency duty, a reason, no grant,
//     and the emergency purpose.
//
// The error is ErrNotFound for an unknown record, or a storage failure;
// a denial is a Decision, not an error.
func Decide(r contracts.Reader, doc *pb.Account, m *pb.RequestAccess, height int64) (Decision, error) {
	rid, err := ParseID("record_id", m.RecordId)
	if err != nil {
		return Decision{}, fmt.Errorf("%w: %v", contracts.ErrInvalidPayload, err)
	}
	rec, err := GetRecord(r, rid)
	if err != nil {
		return Decision{}, err
	}
	if rec == nil {
		return Decision{}, notFound("no record %s", m.RecordId)
	}
	if rec.Erased {
		return denied(reasonErased, "record %s was erased at height %d", rec.Id, rec.ErasedHeight), nil
	}
	if m.BreakGlass {
		switch {
		case m.Grant != 0:
			return denied(reasonAmbiguous, "break-glass takes no grant; give one or the other"), nil
		case doc.Role != pb.Role_ROLE_DOCTOR || !doc.Emergency:
			return denied(reasonNoEmergency, "%s does not have the emergency duty", doc.Address), nil
		case checkText("reason", m.Reason, MaxReasonBytes, true) != nil:
			return denied(reasonNoReason, "break-glass needs a reason"), nil
		case m.Purpose != pb.Purpose_PURPOSE_EMERGENCY:
			return denied(reasonPurpose, "break-glass is for the emergency purpose, not %s", m.Purpose), nil
		}
		return Decision{Allowed: true, Record: rec, KeySource: pb.KeySource_KEY_SOURCE_CUSTODIAN}, nil
	}
	if m.Grant == 0 {
		return denied(reasonNoGrant, "give a grant, or break the glass"), nil
	}
	g, err := GetGrant(r, m.Grant)
	if err != nil {
		return Decision{}, err
	}
	if g == nil {
		return denied(reasonUnknownGrant, "grant %d was never issued", m.Grant), nil
	}
	if g.Grantee != doc.Address {
		return denied(reasonNotGrantee, "grant %d was issued to %s, not to %s", g.Id, g.Grantee, doc.Address), nil
	}
	if reason, detail, err := chainVerdict(r, g, height); err != nil {
		return Decision{}, err
	} else if reason != "" {
		return Decision{Reason: reason, Detail: detail}, nil
	}
	if g.Pseudonym != rec.Pseudonym {
		return denied(reasonOtherPatient, "grant %d is another patient's", g.Id), nil
	}
	if !Covers(g.Scope, rec) {
		return denied(reasonOutOfScope, "record %s is not in grant %d's scope", rec.Id, g.Id), nil
	}
	if !slices.Contains(g.Purposes, m.Purpose) {
		return denied(reasonPurpose, "grant %d does not allow the purpose %s", g.Id, m.Purpose), nil
	}
	src := pb.KeySource_KEY_SOURCE_CUSTODIAN
	if _, ok := slices.BinarySearch(g.KeyedRecords, rec.Id); ok {
		src = pb.KeySource_KEY_SOURCE_GRANT
	}
	return Decision{Allowed: true, Record: rec, KeySource: src}, nil
}

func validateReview(m *pb.ReviewBreakGlass) error {
	if _, ok := pb.Finding_name[int32(m.Finding)]; !ok || m.Finding == pb.Finding_FINDING_UNSPECIFIED {
		return fmt.Errorf("finding %s: give justified, unjustified or inconclusive", m.Finding)
	}
	return checkText("note", m.Note, MaxNoteBytes, false)
}

// execAccess writes an access entry if Decide allows the request; a
// denial returns ErrDenied and writes nothing.
func execAccess(ctx *contracts.Context, m *pb.RequestAccess) error {
	d, err := Decide(ctx.Store, ctx.Signer, m, ctx.Block.Height)
	if err != nil {
		return err
	}
	if err := d.Err(); err != nil {
		return err
	}
	rid, err := parseID("record_id", m.RecordId)
	if err != nil {
		return err
	}
	doc, err := pb.ParseAddress(ctx.Signer.Address)
	if err != nil {
		return err
	}
	id, err := nextID(ctx.Store, counterAccess)
	if err != nil {
		return err
	}
	e := &pb.AccessEntry{
		Id: id, Doctor: ctx.Signer.Address, DoctorHospital: ctx.Signer.Hospital, RecordId: m.RecordId,
		Custodian: d.Record.Custodian, Grant: m.Grant, BreakGlass: m.BreakGlass, Purpose: m.Purpose,
		Height: ctx.Block.Height, Reason: m.Reason, KeySource: d.KeySource,
	}
	if m.BreakGlass {
		e.Review = &pb.Review{Open: true}
		if err := ctx.Store.Set(openReviewKey(id), u64(nil, id)); err != nil {
			return err
		}
	}
	if err := set(ctx.Store, AccessKey(id), e); err != nil {
		return err
	}
	if err := ctx.Store.Set(recordAccessKey(rid, id), u64(nil, id)); err != nil {
		return err
	}
	if err := ctx.Store.Set(doctorAccessKey(doc, id), u64(nil, id)); err != nil {
		return err
	}
	ctx.Emit(EventAccessed,
		indexed("id", itoa(id)), indexed("record", e.RecordId), indexed("custodian", e.Custodian),
		indexed("doctor", e.Doctor), indexed("grant", itoa(e.Grant)), indexed("break_glass", fmt.Sprint(e.BreakGlass)),
		attr("purpose", e.Purpose.String()), attr("key_source", e.KeySource.String()), height(ctx))
	return nil
}

// execReview closes an open break-glass entry. Reviewers: the custodian's
// operator, or a doctor of the custodian with the reviewer duty who is not
// the doctor who broke the glass.
func execReview(ctx *contracts.Context, m *pb.ReviewBreakGlass) error {
	e, err := GetAccess(ctx.Store, m.Access)
	if err != nil {
		return err
	}
	if e == nil {
		return notFound("no access entry %d", m.Access)
	}
	switch ctx.Signer.Role {
	case pb.Role_ROLE_OPERATOR:
		h, err := operatorOf(ctx)
		if err != nil {
			return err
		}
		if h.Id != e.Custodian {
			return unauthorized("access %d is to a record of hospital %s; its reviewers close it", e.Id, e.Custodian)
		}
	case pb.Role_ROLE_DOCTOR:
		switch {
		case !ctx.Signer.Reviewer:
			return unauthorized("%s does not have the reviewer duty", ctx.Signer.Address)
		case ctx.Signer.Hospital != e.Custodian:
			return unauthorized("access %d is to a record of hospital %s; its reviewers close it", e.Id, e.Custodian)
		case ctx.Signer.Address == e.Doctor:
			return unauthorized("a doctor does not review its own break-glass access")
		}
	default:
		return unauthorized("a %s may not review break-glass accesses", ctx.Signer.Role)
	}
	if !e.BreakGlass || e.Review == nil {
		return wrongState("access %d was under grant %d, not break-glass", e.Id, e.Grant)
	}
	if !e.Review.Open {
		return wrongState("access %d was reviewed at height %d by %s", e.Id, e.Review.Height, e.Review.Reviewer)
	}
	e.Review = &pb.Review{Reviewer: ctx.Signer.Address, Finding: m.Finding, Note: m.Note, Height: ctx.Block.Height}
	if err := set(ctx.Store, AccessKey(e.Id), e); err != nil {
		return err
	}
	if err := ctx.Store.Delete(openReviewKey(e.Id)); err != nil {
		return err
	}
	ctx.Emit(EventReviewed,
		indexed("access", itoa(e.Id)), indexed("record", e.RecordId), indexed("custodian", e.Custodian),
		indexed("doctor", e.Doctor), indexed("reviewer", ctx.Signer.Address), attr("finding", m.Finding.String()), height(ctx))
	return nil
}
