package records

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/pb"
)

// checkScope: a scope is 1 to MaxGrantRecords record ids, strictly
// ascending, or a filter of resource types and/or a date range. An empty
// scope is refused: "everything" is said explicitly, as a date range.
func checkScope(s *pb.GrantScope) error {
	if s == nil {
		return errors.New("scope is missing")
	}
	filter := len(s.ResourceTypes) > 0 || s.DateFrom != 0 || s.DateTo != 0
	if len(s.RecordIds) > 0 {
		if filter {
			return errors.New("scope: give record ids or a filter (resource types, dates), not both")
		}
		if len(s.RecordIds) > MaxGrantRecords {
			return fmt.Errorf("scope: %d record ids, the limit is %d", len(s.RecordIds), MaxGrantRecords)
		}
		for i, id := range s.RecordIds {
			if _, err := ParseID(fmt.Sprintf("scope.record_ids[%d]", i), id); err != nil {
				return err
			}
			if i > 0 && s.RecordIds[i-1] >= id {
				return errors.New("scope.record_ids: must be strictly ascending")
			}
		}
		return nil
	}
	if !filter {
		return errors.New("scope is empty: give record ids, resource types or a date range")
	}
	if len(s.ResourceTypes) > 0 {
		if err := checkResourceTypes("scope.resource_types", s.ResourceTypes); err != nil {
			return err
		}
	}
	if s.DateFrom != 0 {
		if err := checkDate("scope.date_from", s.DateFrom); err != nil {
			return err
		}
	}
	if s.DateTo != 0 {
		if err := checkDate("scope.date_to", s.DateTo); err != nil {
			return err
		}
	}
	if s.DateFrom != 0 && s.DateTo != 0 && s.DateFrom > s.DateTo {
		return fmt.Errorf("scope: date_from %d is after date_to %d", s.DateFrom, s.DateTo)
	}
	return nil
}

// checkKeysShape: at most MaxGrantRecords keys, strictly ascending by
// record id, each a sealed data key.
func checkKeysShape(keys []*pb.SealedKey) error {
	if len(keys) > MaxGrantRecords {
		return fmt.Errorf("%d keys, the limit is %d", len(keys), MaxGrantRecords)
	}
	for i, k := range keys {
		if _, err := ParseID(fmt.Sprintf("keys[%d].record_id", i), k.RecordId); err != nil {
			return err
		}
		if err := checkSealedKey(fmt.Sprintf("keys[%d].sealed", i), k.Sealed); err != nil {
			return err
		}
		if i > 0 && keys[i-1].RecordId >= k.RecordId {
			return errors.New("keys: must be strictly ascending by record id")
		}
	}
	return nil
}

// Covers reports whether scope s covers rec: rec is listed, or every
// resource type of rec is in the filter and its date is in the range.
// The caller checks that rec is the grant's patient's.
func Covers(s *pb.GrantScope, rec *pb.Record) bool {
	if s == nil {
		return false
	}
	if len(s.RecordIds) > 0 {
		_, ok := slices.BinarySearch(s.RecordIds, rec.Id)
		return ok
	}
	for _, t := range rec.ResourceTypes {
		if _, ok := slices.BinarySearch(s.ResourceTypes, t); len(s.ResourceTypes) > 0 && !ok {
			return false
		}
	}
	return (s.DateFrom == 0 || rec.Date >= s.DateFrom) && (s.DateTo == 0 || rec.Date <= s.DateTo)
}

func validateGrant(m *pb.CreateGrant) error {
	if _, err := pb.ParseAddress(m.Grantee); err != nil {
		return fmt.Errorf("grantee: %w", err)
	}
	if err := checkScope(m.Scope); err != nil {
		return err
	}
	if err := checkPurposes(m.Purposes); err != nil {
		return err
	}
	if m.ExpiryHeight <= 0 {
		return fmt.Errorf("expiry_height %d: give the last height at which the grant is valid", m.ExpiryHeight)
	}
	if err := checkKeysShape(m.Keys); err != nil {
		return err
	}
	if ids := m.Scope.RecordIds; len(ids) > 0 {
		for _, k := range m.Keys {
			if _, ok := slices.BinarySearch(ids, k.RecordId); !ok {
				return fmt.Errorf("keys: record %s is not in the scope", k.RecordId)
			}
		}
	}
	return nil
}

// granteeOf returns the doctor account a grant goes to; it must have a
// seal key, for the keys are sealed to it.
func granteeOf(ctx *contracts.Context, addr string) (*pb.Account, error) {
	acc, err := accounts.GetAccount(ctx.Store, addr)
	if err != nil {
		return nil, err
	}
	switch {
	case acc == nil:
		return nil, notFound("no account %s", addr)
	case acc.Role != pb.Role_ROLE_DOCTOR:
		return nil, invalid("grantee %s is a %s; grants go to doctors", addr, acc.Role)
	case len(acc.SealPubkey) == 0:
		return nil, wrongState("doctor %s has no seal key; its hospital enrols it with %s", addr, TypeEnrolDoctor)
	}
	return acc, nil
}

// checkKeyCopies checks a grant's sealed keys against state. For a
// record-id scope, every record not erased has exactly one key and an
// erased one none; for a filter scope keys are optional, each for a record
// of the patient, not erased, in scope (the custodian's gateway seals the
// others at serve time).
func checkKeyCopies(ctx *contracts.Context, pseudonym string, s *pb.GrantScope, keys []*pb.SealedKey) error {
	if len(s.RecordIds) > 0 {
		j := 0
		for _, id := range s.RecordIds {
			rec, err := recordOf(ctx, id)
			if err != nil {
				return err
			}
			has := j < len(keys) && keys[j].RecordId == id
			switch {
			case rec.Erased && has:
				return wrongState("record %s is erased; give no key for it", id)
			case !rec.Erased && !has:
				return invalid("keys: no sealed key for record %s", id)
			}
			if has {
				j++
			}
		}
		if j != len(keys) {
			return invalid("keys: record %s is not in the scope", keys[j].RecordId)
		}
		return nil
	}
	for _, k := range keys {
		rec, err := recordOf(ctx, k.RecordId)
		if err != nil {
			return err
		}
		switch {
		case rec.Pseudonym != pseudonym:
			return unauthorized("record %s is another patient's", k.RecordId)
		case rec.Erased:
			return wrongState("record %s is erased; give no key for it", k.RecordId)
		case !Covers(s, rec):
			return invalid("keys: record %s is not in the scope", k.RecordId)
		}
	}
	return nil
}

// recordOf loads a record by its (validated) id, or ErrNotFound.
func recordOf(ctx *contracts.Context, id string) (*pb.Record, error) {
	rid, err := parseID("record id", id)
	if err != nil {
		return nil, err
	}
	rec, err := GetRecord(ctx.Store, rid)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, notFound("no record %s", id)
	}
	return rec, nil
}

func execGrant(ctx *contracts.Context, m *pb.CreateGrant) error {
	p, pid, err := patientOf(ctx)
	if err != nil {
		return err
	}
	if m.ExpiryHeight <= ctx.Block.Height {
		return invalid("expiry_height %d is not after the current height %d", m.ExpiryHeight, ctx.Block.Height)
	}
	if _, err := granteeOf(ctx, m.Grantee); err != nil {
		return err
	}
	for _, id := range m.Scope.RecordIds {
		rec, err := recordOf(ctx, id)
		if err != nil {
			return err
		}
		if rec.Pseudonym != p.Pseudonym {
			return unauthorized("record %s is another patient's", id)
		}
		if rec.Erased {
			return wrongState("record %s was erased at height %d", id, rec.ErasedHeight)
		}
	}
	if err := checkKeyCopies(ctx, p.Pseudonym, m.Scope, m.Keys); err != nil {
		return err
	}
	id, err := nextID(ctx.Store, counterGrant)
	if err != nil {
		return err
	}
	g := &pb.Grant{
		Id: id, Pseudonym: p.Pseudonym, Grantor: ctx.Signer.Address, Grantee: m.Grantee, Scope: m.Scope,
		Purposes: m.Purposes, ExpiryHeight: m.ExpiryHeight, Forwardable: m.Forwardable, Root: id, Height: ctx.Block.Height,
	}
	if err := storeGrant(ctx, pid, g, m.Keys); err != nil {
		return err
	}
	ctx.Emit(EventGranted, grantAttrs(ctx, g)...)
	return nil
}

func grantAttrs(ctx *contracts.Context, g *pb.Grant) []contracts.Attr {
	ps := make([]string, len(g.Purposes))
	for i, p := range g.Purposes {
		ps[i] = p.String()
	}
	return []contracts.Attr{
		indexed("id", itoa(g.Id)), indexed("pseudonym", g.Pseudonym),
		indexed("grantor", g.Grantor), indexed("grantee", g.Grantee),
		attr("parent", itoa(g.Parent)), attr("root", itoa(g.Root)), attr("purposes", strings.Join(ps, ",")),
		attr("expiry_height", fmt.Sprint(g.ExpiryHeight)), attr("forwardable", fmt.Sprint(g.Forwardable)),
		height(ctx),
	}
}

// storeGrant writes g, its key copies and its indexes.
func storeGrant(ctx *contracts.Context, pid [32]byte, g *pb.Grant, keys []*pb.SealedKey) error {
	for _, k := range keys {
		rid, err := parseID("record id", k.RecordId)
		if err != nil {
			return err
		}
		if err := ctx.Store.Set(KeyCopyKey(rid, g.Id), k.Sealed); err != nil {
			return err
		}
		g.KeyedRecords = append(g.KeyedRecords, k.RecordId)
	}
	grantee, err := pb.ParseAddress(g.Grantee)
	if err != nil {
		return err
	}
	if err := set(ctx.Store, GrantKey(g.Id), g); err != nil {
		return err
	}
	if err := ctx.Store.Set(patientGrantKey(pid, g.Id), u64(nil, g.Id)); err != nil {
		return err
	}
	return ctx.Store.Set(granteeGrantKey(grantee, g.Id), u64(nil, g.Id))
}

func validateForward(m *pb.ForwardGrant) error {
	if _, err := pb.ParseAddress(m.Grantee); err != nil {
		return fmt.Errorf("grantee: %w", err)
	}
	if err := checkPurposes(m.Purposes); err != nil {
		return err
	}
	if m.ExpiryHeight <= 0 {
		return fmt.Errorf("expiry_height %d: give the last height at which the forward is valid", m.ExpiryHeight)
	}
	return checkKeysShape(m.Keys)
}

// execForward: the grantee of a valid, forwardable grant forwards it. The
// child keeps the parent's scope and may only narrow purposes and expiry.
func execForward(ctx *contracts.Context, m *pb.ForwardGrant) error {
	parent, err := GetGrant(ctx.Store, m.Parent)
	if err != nil {
		return err
	}
	if parent == nil {
		return deny(reasonUnknownGrant, "grant %d was never issued", m.Parent)
	}
	if parent.Grantee != ctx.Signer.Address {
		return deny(reasonNotGrantee, "grant %d was issued to %s, not to %s", parent.Id, parent.Grantee, ctx.Signer.Address)
	}
	if err := checkChain(ctx.Store, parent, ctx.Block.Height); err != nil {
		return err
	}
	if !parent.Forwardable {
		return deny(reasonNotForward, "grant %d does not allow forwarding", parent.Id)
	}
	if parent.Depth >= MaxForwardDepth {
		return deny(reasonTooDeep, "grant %d is already %d forwards below the patient's grant, the limit", parent.Id, parent.Depth)
	}
	for _, p := range m.Purposes {
		if !slices.Contains(parent.Purposes, p) {
			return deny(reasonWidening, "purpose %s is not among grant %d's purposes", p, parent.Id)
		}
	}
	if m.ExpiryHeight <= ctx.Block.Height {
		return invalid("expiry_height %d is not after the current height %d", m.ExpiryHeight, ctx.Block.Height)
	}
	if m.ExpiryHeight > parent.ExpiryHeight {
		return deny(reasonWidening, "expiry_height %d is after grant %d's expiry %d", m.ExpiryHeight, parent.Id, parent.ExpiryHeight)
	}
	if m.Grantee == ctx.Signer.Address {
		return invalid("a doctor does not forward a grant to itself")
	}
	if _, err := granteeOf(ctx, m.Grantee); err != nil {
		return err
	}
	if err := checkKeyCopies(ctx, parent.Pseudonym, parent.Scope, m.Keys); err != nil {
		return err
	}
	pid, err := parseID("pseudonym", parent.Pseudonym)
	if err != nil {
		return err
	}
	id, err := nextID(ctx.Store, counterGrant)
	if err != nil {
		return err
	}
	g := &pb.Grant{
		Id: id, Pseudonym: parent.Pseudonym, Grantor: ctx.Signer.Address, Grantee: m.Grantee,
		Scope: proto.CloneOf(parent.Scope), Purposes: m.Purposes, ExpiryHeight: m.ExpiryHeight, Forwardable: m.Forwardable,
		Parent: parent.Id, Root: parent.Root, Depth: parent.Depth + 1, Height: ctx.Block.Height,
	}
	if err := storeGrant(ctx, pid, g, m.Keys); err != nil {
		return err
	}
	ctx.Emit(EventForwarded, grantAttrs(ctx, g)...)
	return nil
}

func validateRevoke(*pb.RevokeGrant) error { return nil }

// execRevoke marks one grant revoked. Nothing below it is rewritten: every
// use of a grant checks its whole chain (checkChain), so the flag cuts
// every forward below it from the next tx on, including forwards of a
// depth the revoker cannot see.
func execRevoke(ctx *contracts.Context, m *pb.RevokeGrant) error {
	g, err := GetGrant(ctx.Store, m.Grant)
	if err != nil {
		return err
	}
	if g == nil {
		return notFound("grant %d was never issued", m.Grant)
	}
	switch ctx.Signer.Role {
	case pb.Role_ROLE_PATIENT:
		p, _, err := patientOf(ctx)
		if err != nil {
			return err
		}
		if p.Pseudonym != g.Pseudonym {
			return unauthorized("grant %d is another patient's", g.Id)
		}
	case pb.Role_ROLE_DOCTOR:
		if g.Parent == 0 || g.Grantor != ctx.Signer.Address {
			return unauthorized("a doctor revokes only the forwards it made; grant %d was made by %s", g.Id, g.Grantor)
		}
	default:
		return unauthorized("a %s may not revoke grants", ctx.Signer.Role)
	}
	if g.Revoked {
		return wrongState("grant %d was revoked at height %d", g.Id, g.RevokedHeight)
	}
	g.Revoked, g.RevokedHeight, g.RevokedBy = true, ctx.Block.Height, ctx.Signer.Address
	if err := set(ctx.Store, GrantKey(g.Id), g); err != nil {
		return err
	}
	ctx.Emit(EventRevoked,
		indexed("id", itoa(g.Id)), indexed("pseudonym", g.Pseudonym), indexed("grantee", g.Grantee),
		attr("root", itoa(g.Root)), indexed("by", ctx.Signer.Address), height(ctx))
	return nil
}
