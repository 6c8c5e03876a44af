package sharing

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
)

// DoctorEnrolment is what a hospital operator registers of a doctor.
type DoctorEnrolment struct {
	Pub     ed25519.PublicKey
	SealPub [32]byte
	// Label is a short non-identifying staff label (not a name).
	Label     string
	Emergency bool // may break the glass
	Reviewer  bool // reviews break-glass accesses of this hospital's records
}

// EnrolDoctor enrols a doctor of the operator's hospital and returns its
// address.
func (c *Client) EnrolDoctor(ctx context.Context, operator ed25519.PrivateKey, d DoctorEnrolment) (string, error) {
	if len(d.Pub) != ed25519.PublicKeySize {
		return "", fmt.Errorf("doctor's public key is %d bytes, want %d", len(d.Pub), ed25519.PublicKeySize)
	}
	m := &pb.EnrolDoctor{Pubkey: d.Pub, SealPubkey: d.SealPub[:], Label: d.Label, Emergency: d.Emergency, Reviewer: d.Reviewer}
	if _, err := c.send(ctx, operator, records.TypeEnrolDoctor, m); err != nil {
		return "", err
	}
	return pb.AddressOf(d.Pub), nil
}

// EnrolPatient enrols a patient at the operator's hospital and returns its
// account address. The first enrolment of a pseudonym gives the patient's
// keys (pub and sealPub) and optionally its research consent; enrolling an
// enrolled patient at another hospital links it: pass a nil pub and no
// consent.
func (c *Client) EnrolPatient(ctx context.Context, operator ed25519.PrivateKey, pseudonym string, pub ed25519.PublicKey, sealPub [32]byte, consent pb.Consent) (string, error) {
	if _, err := parseHexID("pseudonym", pseudonym); err != nil {
		return "", err
	}
	m := &pb.EnrolPatient{Pseudonym: pseudonym, ResearchConsent: consent}
	if pub != nil {
		if len(pub) != ed25519.PublicKeySize {
			return "", fmt.Errorf("patient's public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
		}
		m.Pubkey, m.SealPubkey = pub, sealPub[:]
	} else if consent != pb.Consent_CONSENT_UNSPECIFIED {
		return "", errors.New("linking an enrolled patient records no consent; only the patient changes it (patient consent)")
	}
	res, err := c.send(ctx, operator, records.TypeEnrolPatient, m)
	if err != nil {
		return "", err
	}
	for _, e := range res.Events {
		if e.Type == records.EventPatientEnrolled || e.Type == records.EventPatientLinked {
			return e.Attrs["account"], nil
		}
	}
	return "", fmt.Errorf("the committed enrolment at height %d has no %s event", res.Height, records.EventPatientEnrolled)
}

// SetConsent records the patient's research choice from the next block on.
func (c *Client) SetConsent(ctx context.Context, patient *Identity, consent pb.Consent) error {
	_, err := c.send(ctx, patient.Sign, records.TypeConsent, &pb.SetConsent{Research: consent})
	return err
}

// Erase crypto-shreds a record: signer is its patient or its custodian's
// operator. The reference stays on chain; the keys are gone for good.
func (c *Client) Erase(ctx context.Context, signer ed25519.PrivateKey, recordID string) error {
	if _, err := parseHexID("record id", recordID); err != nil {
		return err
	}
	_, err := c.send(ctx, signer, records.TypeErase, &pb.EraseRecord{RecordId: recordID})
	return err
}
