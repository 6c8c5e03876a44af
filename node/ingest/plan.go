package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node/fhir"
)

// recordIDDomain starts the hashed message of every record id.
const recordIDDomain = "medchain/record id/v1\x00"

// RecordID is the id of a hospital's local resource as a record:
// SHA-256(recordIDDomain ‖ hospital ‖ 0x00 ‖ resourceType "/" localID). Hospital
// ids and FHIR ids hold no 0x00 byte, so the message is unambiguous. The same
// resource of the same hospital always gets the same id, which is what makes a
// rerun unable to register a record twice.
func RecordID(hospital, resourceType, localID string) [32]byte {
	h := sha256.New()
	h.Write([]byte(recordIDDomain))
	h.Write([]byte(hospital))
	h.Write([]byte{0})
	h.Write([]byte(resourceType + "/" + localID))
	var id [32]byte
	h.Sum(id[:0])
	return id
}

// plannedRecord is one clinical resource about to become a record.
type plannedRecord struct {
	id   [32]byte
	res  fhir.Resource
	typ  string
	date uint32 // YYYYMMDD
}

// hexID is the on-chain form of the record id.
func (r *plannedRecord) hexID() string { return hex.EncodeToString(r.id[:]) }

// name is "Type/id", how errors name the resource to the operator.
func (r *plannedRecord) name() string { return r.res.ResourceType() + "/" + r.res.ResourceID() }

// plaintext is what the vault encrypts: a canonical FHIR Bundle of type
// collection holding the one resource.
func (r *plannedRecord) plaintext() ([]byte, error) {
	j, err := fhir.Canonical(r.res)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(len(j) + 80)
	b.WriteString(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":`)
	b.Write(j)
	b.WriteString(`}]}`)
	return b.Bytes(), nil
}

// plannedPatient is a pseudonym and its records at this hospital. Two local
// Patients with the same identity fields are one plannedPatient.
type plannedPatient struct {
	pseudonym string
	consent   pb.Consent
	records   []*plannedRecord
	// patients are the local Patient resources of the pseudonym, whose
	// facts go into the vault (never on chain, never in the spool).
	patients []*fhir.Patient
}

// ErrExport wraps every refusal of the export's content that the FHIR reader
// does not already report (no pseudonym can be derived, a record without a
// clinical date).
var ErrExport = errors.New("ingest: export refused")

// makePlan turns a cohort into pseudonymous patients and their records, in the
// cohort's order; sets are the files it was built from (for positions). It
// refuses the whole export on the first problem, before anything is written.
func makePlan(c *fhir.Cohort, sets []*fhir.Set, hospital string, pepper []byte, identity []string) ([]*plannedPatient, error) {
	where := func(key string) string {
		for _, s := range sets {
			if p, ok := s.Position(key); ok {
				return p.String()
			}
		}
		return "the export"
	}
	byPseudonym := map[string]*plannedPatient{}
	var out []*plannedPatient
	for _, pr := range c.Patients {
		pid, err := fhir.Pseudonym(pepper, fhir.IdentityOf(pr.Patient), identity)
		if err != nil {
			// The position, never the Patient's id or identity values.
			return nil, fmt.Errorf("%w: %s: a Patient's pseudonym cannot be derived: %v (choose identity fields every Patient has with --identity)",
				ErrExport, where("Patient/"+pr.Patient.ID), err)
		}
		pp := byPseudonym[pid]
		consent := consentOf(pr.Patient)
		if pp == nil {
			pp = &plannedPatient{pseudonym: pid, consent: consent}
			byPseudonym[pid] = pp
			out = append(out, pp)
		} else {
			pp.consent = mergeConsent(pp.consent, consent)
		}
		pp.patients = append(pp.patients, pr.Patient)
		add := func(r fhir.Resource, d fhir.DateTime, field string) error {
			key := r.ResourceType() + "/" + r.ResourceID()
			date, err := recordDate(d)
			if err != nil {
				return fmt.Errorf("%w: %s: %s: field %s: %v", ErrExport, where(key), key, field, err)
			}
			pp.records = append(pp.records, &plannedRecord{
				id: RecordID(hospital, r.ResourceType(), r.ResourceID()), res: r, typ: r.ResourceType(), date: date,
			})
			return nil
		}
		for _, e := range pr.Encounters {
			d, field := fhir.DateTime(""), "period.start"
			if e.Period != nil {
				d = e.Period.Start
				if d == "" {
					d, field = e.Period.End, "period.end"
				}
			}
			if err := add(e, d, field); err != nil {
				return nil, err
			}
		}
		for _, x := range pr.Conditions {
			if err := add(x, x.OnsetDateTime, "onsetDateTime"); err != nil {
				return nil, err
			}
		}
		for _, o := range pr.Observations {
			if err := add(o, o.EffectiveDateTime, "effectiveDateTime"); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// recordDate is the calendar date of d as written, YYYYMMDD, from 1900 on.
func recordDate(d fhir.DateTime) (uint32, error) {
	if d == "" {
		return 0, errors.New("absent: every record needs its clinical date on chain; add it to the export")
	}
	t, err := d.Day()
	if err != nil {
		return 0, err
	}
	y, m, day := t.Date()
	if y < 1900 || y > 9999 {
		return 0, fmt.Errorf("year %d: the chain records dates from 1900 to 9999", y)
	}
	return uint32(y*10000 + int(m)*100 + day), nil
}

// consentOf is the research choice of a Patient: opt-in or opt-out when the
// consent extension says so, unspecified (no consent) when it is absent.
func consentOf(p *fhir.Patient) pb.Consent {
	for _, e := range p.Extension {
		if e.URL == fhir.ConsentExtensionURL && e.ValueBoolean != nil {
			if *e.ValueBoolean {
				return pb.Consent_CONSENT_OPT_IN
			}
			return pb.Consent_CONSENT_OPT_OUT
		}
	}
	return pb.Consent_CONSENT_UNSPECIFIED
}

// mergeConsent combines the choices of two local Patients of one person:
// opt-in only if both opted in; opt-out if either opted out; else none.
func mergeConsent(a, b pb.Consent) pb.Consent {
	switch {
	case a == b:
		return a
	case a == pb.Consent_CONSENT_OPT_OUT || b == pb.Consent_CONSENT_OPT_OUT:
		return pb.Consent_CONSENT_OPT_OUT
	}
	return pb.Consent_CONSENT_UNSPECIFIED
}

// consentName is how the spool writes a consent.
func consentName(c pb.Consent) string {
	switch c {
	case pb.Consent_CONSENT_OPT_IN:
		return "opt-in"
	case pb.Consent_CONSENT_OPT_OUT:
		return "opt-out"
	}
	return ""
}

func parseConsent(s string) (pb.Consent, error) {
	switch s {
	case "opt-in":
		return pb.Consent_CONSENT_OPT_IN, nil
	case "opt-out":
		return pb.Consent_CONSENT_OPT_OUT, nil
	case "":
		return pb.Consent_CONSENT_UNSPECIFIED, nil
	}
	return 0, fmt.Errorf("consent %q: want opt-in, opt-out or empty", s)
}
