package records

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
)

func validateRegister(m *pb.RegisterRecord) error {
	if _, err := ParseID("record_id", m.RecordId); err != nil {
		return err
	}
	if _, err := ParseID("pseudonym", m.Pseudonym); err != nil {
		return err
	}
	if err := checkResourceTypes("resource_types", m.ResourceTypes); err != nil {
		return err
	}
	if len(m.ContentHash) != sha256.Size {
		return fmt.Errorf("content_hash is %d bytes, a SHA-256 is %d", len(m.ContentHash), sha256.Size)
	}
	if m.Size == 0 || m.Size > MaxRecordSize {
		return fmt.Errorf("size %d: a ciphertext is 1 to %d bytes", m.Size, MaxRecordSize)
	}
	if err := checkDate("date", m.Date); err != nil {
		return err
	}
	if err := checkSealedKey("sealed_key_patient", m.SealedKeyPatient); err != nil {
		return err
	}
	return checkSealedKey("sealed_key_custodian", m.SealedKeyCustodian)
}

// execRegister: the custodian is the signer's hospital, where the patient
// must be enrolled.
func execRegister(ctx *contracts.Context, m *pb.RegisterRecord) error {
	h, err := operatorOf(ctx)
	if err != nil {
		return err
	}
	rid, err := parseID("record_id", m.RecordId)
	if err != nil {
		return err
	}
	pid, err := parseID("pseudonym", m.Pseudonym)
	if err != nil {
		return err
	}
	p, err := GetPatient(ctx.Store, pid)
	if err != nil {
		return err
	}
	if p == nil {
		return notFound("no patient with pseudonym %s; enrol it first (%s)", m.Pseudonym, TypeEnrolPatient)
	}
	if _, ok := slices.BinarySearch(p.Hospitals, h.Id); !ok {
		return unauthorized("patient %s is not enrolled at hospital %s; enrol (link) it there first", m.Pseudonym, h.Id)
	}
	if old, err := GetRecord(ctx.Store, rid); err != nil {
		return err
	} else if old != nil {
		return exists("record %s was registered by hospital %s at height %d", m.RecordId, old.Custodian, old.Height)
	}
	rec := &pb.Record{
		Id: m.RecordId, Pseudonym: m.Pseudonym, Custodian: h.Id, ResourceTypes: m.ResourceTypes,
		ContentHash: m.ContentHash, Size: m.Size, Date: m.Date,
		SealedKeyPatient: m.SealedKeyPatient, SealedKeyCustodian: m.SealedKeyCustodian, Height: ctx.Block.Height,
	}
	if err := set(ctx.Store, RecordKey(rid), rec); err != nil {
		return err
	}
	if err := ctx.Store.Set(patientRecordKey(pid, rid), []byte{1}); err != nil {
		return err
	}
	if len(p.Hospitals) > 1 {
		if err := refreshSubjectAfter(ctx, m.Pseudonym, rec); err != nil {
			return err
		}
	}
	ctx.Emit(EventRegistered,
		indexed("record", m.RecordId), indexed("pseudonym", m.Pseudonym), indexed("custodian", h.Id),
		attr("resource_types", strings.Join(m.ResourceTypes, ",")),
		attr("content_hash", hex.EncodeToString(m.ContentHash)), attr("size", itoa(m.Size)), height(ctx))
	return nil
}

func validateErase(m *pb.EraseRecord) error {
	_, err := ParseID("record_id", m.RecordId)
	return err
}

// execErase crypto-shreds a record on chain: its sealed keys and every
// grant's key copy leave state; the reference and content hash stay as
// evidence. The custodian's worker deletes the vault copy on the event.
func execErase(ctx *contracts.Context, m *pb.EraseRecord) error {
	rid, err := parseID("record_id", m.RecordId)
	if err != nil {
		return err
	}
	rec, err := GetRecord(ctx.Store, rid)
	if err != nil {
		return err
	}
	if rec == nil {
		return notFound("no record %s", m.RecordId)
	}
	switch ctx.Signer.Role {
	case pb.Role_ROLE_PATIENT:
		p, _, err := patientOf(ctx)
		if err != nil {
			return err
		}
		if p.Pseudonym != rec.Pseudonym {
			return unauthorized("record %s is another patient's", m.RecordId)
		}
	case pb.Role_ROLE_OPERATOR:
		h, err := operatorOf(ctx)
		if err != nil {
			return err
		}
		if h.Id != rec.Custodian {
			return unauthorized("record %s is kept by hospital %s; only its operator or the patient erases it", m.RecordId, rec.Custodian)
		}
	default:
		return unauthorized("a %s may not erase records", ctx.Signer.Role)
	}
	if rec.Erased {
		return wrongState("record %s was erased at height %d", m.RecordId, rec.ErasedHeight)
	}
	copies, err := keysIn(ctx.Store, keyCopySpan(rid))
	if err != nil {
		return err
	}
	for _, k := range copies {
		if err := ctx.Store.Delete(k); err != nil {
			return err
		}
	}
	rec.Erased, rec.ErasedHeight, rec.ErasedBy = true, ctx.Block.Height, ctx.Signer.Address
	rec.SealedKeyPatient, rec.SealedKeyCustodian = nil, nil
	if err := set(ctx.Store, RecordKey(rid), rec); err != nil {
		return err
	}
	if err := refreshSubjectAfter(ctx, rec.Pseudonym, rec); err != nil {
		return err
	}
	ctx.Emit(EventErased,
		indexed("record", m.RecordId), indexed("custodian", rec.Custodian), indexed("by", ctx.Signer.Address),
		attr("key_copies_removed", itoa(uint64(len(copies)))), height(ctx))
	return nil
}
