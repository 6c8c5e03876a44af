package records

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/pb"
)

// patientLabel is the label of every patient account: a patient is its
// pseudonym, so its account carries no free text at all.
const patientLabel = "patient"

func validateEnrolPatient(m *pb.EnrolPatient) error {
	if _, err := ParseID("pseudonym", m.Pseudonym); err != nil {
		return err
	}
	if (len(m.Pubkey) == 0) != (len(m.SealPubkey) == 0) {
		return errors.New("give pubkey and seal_pubkey together (first enrolment), or neither (linking an enrolled patient)")
	}
	if len(m.Pubkey) > 0 {
		if len(m.Pubkey) != ed25519.PublicKeySize {
			return fmt.Errorf("pubkey is %d bytes, want %d", len(m.Pubkey), ed25519.PublicKeySize)
		}
		if err := checkSealPubKey(m.SealPubkey); err != nil {
			return err
		}
	}
	return checkConsent(m.ResearchConsent, true)
}

// execEnrolPatient: the first enrolment of a pseudonym creates its one
// account and patient record; an enrolment at another hospital links it.
func execEnrolPatient(ctx *contracts.Context, m *pb.EnrolPatient) error {
	h, err := operatorOf(ctx)
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
	if p != nil {
		return linkPatient(ctx, h, pid, p, m)
	}
	if len(m.Pubkey) == 0 {
		return notFound("pseudonym %s is not enrolled at any hospital; a first enrolment gives the patient's pubkey and seal_pubkey", m.Pseudonym)
	}
	addr := pb.AddressOf(m.Pubkey)
	if acc, err := accounts.GetAccount(ctx.Store, addr); err != nil {
		return err
	} else if acc != nil {
		return exists("account %s already exists (as a %s); a patient needs a key of its own", addr, acc.Role)
	}
	acc := &pb.Account{
		Address: addr, Pubkey: m.Pubkey, Role: pb.Role_ROLE_PATIENT, Hospital: h.Id, Label: patientLabel,
		CreatedHeight: ctx.Block.Height, SealPubkey: m.SealPubkey, Pseudonym: m.Pseudonym,
	}
	if err := accounts.SetAccount(ctx.Store, acc); err != nil {
		return err
	}
	p = &pb.Patient{Pseudonym: m.Pseudonym, Account: addr, Hospitals: []string{h.Id}, Height: ctx.Block.Height}
	if err := set(ctx.Store, PatientKey(pid), p); err != nil {
		return err
	}
	if m.ResearchConsent != pb.Consent_CONSENT_UNSPECIFIED {
		if err := setConsent(ctx, pid, m.Pseudonym, m.ResearchConsent); err != nil {
			return err
		}
	}
	ctx.Emit(EventPatientEnrolled,
		indexed("pseudonym", m.Pseudonym), indexed("account", addr), indexed("hospital", h.Id), height(ctx))
	return nil
}

func linkPatient(ctx *contracts.Context, h *pb.Hospital, pid [32]byte, p *pb.Patient, m *pb.EnrolPatient) error {
	if len(m.Pubkey) > 0 {
		acc, err := accounts.GetAccount(ctx.Store, p.Account)
		if err != nil {
			return err
		}
		if acc == nil {
			return fmt.Errorf("records: patient %s names account %s, which is not in state", p.Pseudonym, p.Account) // broken invariant
		}
		if !bytes.Equal(acc.Pubkey, m.Pubkey) || !bytes.Equal(acc.SealPubkey, m.SealPubkey) {
			return exists("pseudonym %s is enrolled with account %s; link it with that account's keys, or with none", m.Pseudonym, p.Account)
		}
	}
	if m.ResearchConsent != pb.Consent_CONSENT_UNSPECIFIED {
		return wrongState("pseudonym %s is already enrolled; only the patient changes its research consent (%s)", m.Pseudonym, TypeConsent)
	}
	i, found := slices.BinarySearch(p.Hospitals, h.Id)
	if found {
		return exists("pseudonym %s is already enrolled at hospital %s", m.Pseudonym, h.Id)
	}
	p.Hospitals = slices.Insert(p.Hospitals, i, h.Id)
	if err := set(ctx.Store, PatientKey(pid), p); err != nil {
		return err
	}
	if err := refreshSubject(ctx, pid, p); err != nil {
		return err
	}
	ctx.Emit(EventPatientLinked,
		indexed("pseudonym", m.Pseudonym), indexed("account", p.Account), indexed("hospital", h.Id), height(ctx))
	return nil
}

func validateEnrolDoctor(m *pb.EnrolDoctor) error {
	if len(m.Pubkey) != ed25519.PublicKeySize {
		return fmt.Errorf("pubkey is %d bytes, want %d", len(m.Pubkey), ed25519.PublicKeySize)
	}
	if err := checkSealPubKey(m.SealPubkey); err != nil {
		return err
	}
	// params.max_label_bytes is checked in Exec; this bound only keeps
	// CheckTx from scanning a huge label.
	return checkText("label", m.Label, 1<<10, true)
}

func execEnrolDoctor(ctx *contracts.Context, m *pb.EnrolDoctor) error {
	h, err := operatorOf(ctx)
	if err != nil {
		return err
	}
	params, err := accounts.GetParams(ctx.Store)
	if err != nil {
		return err
	}
	if uint64(len(m.Label)) > params.MaxLabelBytes {
		return invalid("label is %d bytes, the limit is %d", len(m.Label), params.MaxLabelBytes)
	}
	addr := pb.AddressOf(m.Pubkey)
	if acc, err := accounts.GetAccount(ctx.Store, addr); err != nil {
		return err
	} else if acc != nil {
		return exists("account %s already exists (a %s of %q)", addr, acc.Role, acc.Hospital)
	}
	acc := &pb.Account{
		Address: addr, Pubkey: m.Pubkey, Role: pb.Role_ROLE_DOCTOR, Hospital: h.Id, Label: m.Label,
		CreatedHeight: ctx.Block.Height, SealPubkey: m.SealPubkey, Emergency: m.Emergency, Reviewer: m.Reviewer,
	}
	if err := accounts.SetAccount(ctx.Store, acc); err != nil {
		return err
	}
	ctx.Emit(EventDoctorEnrolled, doctorAttrs(ctx, acc)...)
	return nil
}

func doctorAttrs(ctx *contracts.Context, acc *pb.Account) []contracts.Attr {
	return []contracts.Attr{
		indexed("address", acc.Address), indexed("hospital", acc.Hospital),
		attr("emergency", fmt.Sprint(acc.Emergency)), attr("reviewer", fmt.Sprint(acc.Reviewer)),
		indexed("by", ctx.Signer.Address), height(ctx),
	}
}

func validateUpdateDoctor(m *pb.UpdateDoctor) error {
	_, err := pb.ParseAddress(m.Doctor)
	return err
}

func execUpdateDoctor(ctx *contracts.Context, m *pb.UpdateDoctor) error {
	h, err := operatorOf(ctx)
	if err != nil {
		return err
	}
	acc, err := accounts.GetAccount(ctx.Store, m.Doctor)
	if err != nil {
		return err
	}
	switch {
	case acc == nil:
		return notFound("no account %s", m.Doctor)
	case acc.Role != pb.Role_ROLE_DOCTOR:
		return invalid("account %s is a %s, not a doctor", m.Doctor, acc.Role)
	case acc.Hospital != h.Id:
		return unauthorized("doctor %s belongs to hospital %q; only its operator sets its duties", m.Doctor, acc.Hospital)
	}
	acc.Emergency, acc.Reviewer = m.Emergency, m.Reviewer
	if err := accounts.SetAccount(ctx.Store, acc); err != nil {
		return err
	}
	ctx.Emit(EventDoctorUpdated, doctorAttrs(ctx, acc)...)
	return nil
}

func validateSetGateway(m *pb.SetGateway) error {
	if len(m.CertSha256) != 32 {
		return fmt.Errorf("cert_sha256 is %d bytes, a SHA-256 fingerprint is 32", len(m.CertSha256))
	}
	return checkURL(m.Url)
}

// execSetGateway publishes (or replaces) the signer's hospital's gateway;
// clients pin the certificate fingerprint of the latest one.
func execSetGateway(ctx *contracts.Context, m *pb.SetGateway) error {
	h, err := operatorOf(ctx)
	if err != nil {
		return err
	}
	g := &pb.Gateway{Hospital: h.Id, Url: m.Url, CertSha256: m.CertSha256, Height: ctx.Block.Height}
	if err := set(ctx.Store, GatewayKey(h.Id), g); err != nil {
		return err
	}
	ctx.Emit(EventGatewaySet,
		indexed("hospital", h.Id), attr("url", m.Url), attr("cert_sha256", hex.EncodeToString(m.CertSha256)), height(ctx))
	return nil
}

func validateConsent(m *pb.SetConsent) error { return checkConsent(m.Research, false) }

func execConsent(ctx *contracts.Context, m *pb.SetConsent) error {
	p, pid, err := patientOf(ctx)
	if err != nil {
		return err
	}
	return setConsent(ctx, pid, p.Pseudonym, m.Research)
}

// setConsent records the choice at this height; a later tx of the same
// block replaces it, so one height holds the block's last choice.
func setConsent(ctx *contracts.Context, pid [32]byte, pseudonym string, c pb.Consent) error {
	rec := &pb.ConsentRecord{Pseudonym: pseudonym, Research: c, Height: ctx.Block.Height, By: ctx.Signer.Address}
	if err := set(ctx.Store, ConsentKey(pid, ctx.Block.Height), rec); err != nil {
		return err
	}
	p, err := GetPatient(ctx.Store, pid)
	if err != nil {
		return err
	}
	if p == nil {
		return fmt.Errorf("records: consent for patient %s, who is not in state", pseudonym) // broken invariant: callers enrol first
	}
	if err := refreshSubject(ctx, pid, p); err != nil {
		return err
	}
	ctx.Emit(EventConsent,
		indexed("pseudonym", pseudonym), attr("research", c.String()), indexed("by", ctx.Signer.Address), height(ctx))
	return nil
}
