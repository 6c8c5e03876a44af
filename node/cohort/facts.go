package cohort

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"

	"github.com/medchain/medchain/node/fhir"
)

// A patient-facts entry is what a hospital keeps of a Patient resource for
// research: the demographics the statistics need and the local ids its
// records' subject points at. The relay (node/ingest) writes one per
// pseudonym into the vault, encrypted like a record: a fresh data key,
// AES-256-GCM with the raw 32-byte entry id as AAD, the data key sealed to
// the custodian's seal key. It is never on chain, in the spool or in a log.
//
// Its id is FactsID: SHA-256("medchain/patient-facts/v1\x00" ‖ hospital ‖
// 0x00 ‖ pseudonym). When a Patient changes (a death is recorded, consent
// is withdrawn), the vault cannot overwrite an id, so the relay writes the
// next generation under FactsIDAt(…, g) and then erases the older ones;
// Load keeps the highest generation of a pseudonym.

// FactsFormat is the "format" of a version-1 patient-facts entry.
const FactsFormat = "medchain/patient-facts/v1"

// MaxFactsBytes bounds an encoded patient-facts entry; MaxLocalIDs bounds
// the local Patient resources one pseudonym gathers at one hospital.
const (
	MaxFactsBytes = 16 << 10
	MaxLocalIDs   = 64
)

const factsIDDomain = "medchain/patient-facts/v1\x00"

// ErrFacts wraps every refusal of a patient-facts entry.
var ErrFacts = errors.New("cohort: patient facts refused")

// PatientFacts is a patient-facts entry (JSON; Encode gives its only
// accepted form).
type PatientFacts struct {
	Format string `json:"format"` // FactsFormat
	// Hospital is the custodian's hospital id; with Pseudonym and
	// Generation it gives the entry's id.
	Hospital   string `json:"hospital"`
	Generation uint32 `json:"generation"`
	Pseudonym  string `json:"pseudonym"` // 64 lower-case hex digits
	// LocalIDs are the ids of the hospital's Patient resources with this
	// pseudonym (usually one), ascending: records' subject points at them.
	LocalIDs []string `json:"local_ids"`
	// Sex is the FHIR gender (female, male, other, unknown) or "".
	Sex string `json:"sex"`
	// BirthDate and DeathDate are YYYYMMDD, 0 when absent; DeathDate is
	// the calendar date of deceasedDateTime as written.
	BirthDate uint32 `json:"birth_date"`
	DeathDate uint32 `json:"death_date"`
	// ResearchConsent is the FHIR research-consent flag: true only when
	// every local Patient has the consent extension set to true.
	ResearchConsent bool `json:"research_consent"`
}

// FactsID is the vault id of the first generation of a pseudonym's
// patient-facts entry at a hospital.
func FactsID(hospital, pseudonym string) [32]byte { return FactsIDAt(hospital, pseudonym, 0) }

// FactsIDAt is the vault id of generation g: FactsID for g = 0, else the
// same hash with 0x00 ‖ g (4 bytes, big-endian) appended. Hospital ids and
// pseudonyms hold no 0x00 byte, so the message is unambiguous.
func FactsIDAt(hospital, pseudonym string, g uint32) [32]byte {
	h := sha256.New()
	h.Write([]byte(factsIDDomain))
	h.Write([]byte(hospital))
	h.Write([]byte{0})
	h.Write([]byte(pseudonym))
	if g > 0 {
		var b [5]byte
		binary.BigEndian.PutUint32(b[1:], g)
		h.Write(b[:])
	}
	var id [32]byte
	h.Sum(id[:0])
	return id
}

// ID is the entry's vault id.
func (f *PatientFacts) ID() [32]byte { return FactsIDAt(f.Hospital, f.Pseudonym, f.Generation) }

// NewPatientFacts gathers the facts of the local Patients of one pseudonym
// at hospital (generation 0): sex and dates from the Patient with the
// lowest id, consent only if every one consents. The Patients are valid
// (node/fhir read them); an error never quotes their values.
func NewPatientFacts(hospital, pseudonym string, patients []*fhir.Patient) (*PatientFacts, error) {
	if len(patients) == 0 {
		return nil, fmt.Errorf("%w: no Patient for a pseudonym", ErrFacts)
	}
	ps := slices.Clone(patients)
	slices.SortFunc(ps, func(a, b *fhir.Patient) int { return compareStrings(a.ID, b.ID) })
	f := &PatientFacts{Format: FactsFormat, Hospital: hospital, Pseudonym: pseudonym, Sex: ps[0].Gender, ResearchConsent: true}
	for _, p := range ps {
		f.LocalIDs = append(f.LocalIDs, p.ID)
		f.ResearchConsent = f.ResearchConsent && p.ResearchConsent()
	}
	if b := ps[0].BirthDate; b != "" {
		t, err := b.Time()
		if err != nil {
			return nil, fmt.Errorf("%w: a Patient's birthDate is not a date", ErrFacts)
		}
		f.BirthDate = dateOf(t)
	}
	if d := ps[0].DeceasedDateTime; d != "" {
		day, ok := dayOfDateTime(d)
		if !ok {
			return nil, fmt.Errorf("%w: a Patient's deceasedDateTime is not a dateTime", ErrFacts)
		}
		f.DeathDate = day
	}
	return f, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

var (
	hospitalIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	pseudonymPattern  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	localIDPattern    = regexp.MustCompile(`^[A-Za-z0-9.-]{1,64}$`) // a FHIR id
	sexes             = []string{"", "female", "male", "other", "unknown"}
)

// check validates f. Its errors name the field, never its value.
func (f *PatientFacts) check() error {
	bad := func(field, format string, a ...any) error {
		return fmt.Errorf("%w: field %s: %s", ErrFacts, field, fmt.Sprintf(format, a...))
	}
	switch {
	case f.Format != FactsFormat:
		return bad("format", "want %q (an entry of another version needs a newer medchain)", FactsFormat)
	case !hospitalIDPattern.MatchString(f.Hospital):
		return bad("hospital", "a hospital id is 1 to 32 of a-z 0-9 -, starting with a letter or digit")
	case !pseudonymPattern.MatchString(f.Pseudonym):
		return bad("pseudonym", "want 64 lower-case hex digits")
	case len(f.LocalIDs) == 0 || len(f.LocalIDs) > MaxLocalIDs:
		return bad("local_ids", "%d ids, want 1 to %d", len(f.LocalIDs), MaxLocalIDs)
	case !slices.Contains(sexes, f.Sex):
		return bad("sex", "want female, male, other, unknown or empty")
	case f.BirthDate != 0 && !validDate(f.BirthDate):
		return bad("birth_date", "want a date YYYYMMDD or 0")
	case f.DeathDate != 0 && !validDate(f.DeathDate):
		return bad("death_date", "want a date YYYYMMDD or 0")
	case f.BirthDate != 0 && f.DeathDate != 0 && f.DeathDate < f.BirthDate:
		return bad("death_date", "before birth_date")
	}
	for i, id := range f.LocalIDs {
		if !localIDPattern.MatchString(id) {
			return bad(fmt.Sprintf("local_ids[%d]", i), "a FHIR id is 1 to 64 of A-Z a-z 0-9 . -")
		}
		if i > 0 && id <= f.LocalIDs[i-1] {
			return bad("local_ids", "ids must be strictly ascending")
		}
	}
	return nil
}

// Encode returns the entry's JSON after checking it; it is the only form
// DecodePatientFacts accepts, so equal facts give equal bytes.
func (f *PatientFacts) Encode() ([]byte, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("%w: encode: %v", ErrFacts, err)
	}
	return b, nil
}

// DecodePatientFacts reads an entry written by Encode. It refuses anything
// else — unknown or repeated keys, another key order, spaces, trailing
// data, an invalid field — with an error naming what is wrong (never a
// value).
func DecodePatientFacts(b []byte) (*PatientFacts, error) {
	if len(b) > MaxFactsBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrFacts, len(b), MaxFactsBytes)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	f := &PatientFacts{}
	if err := d.Decode(f); err != nil {
		return nil, fmt.Errorf("%w: not a patient-facts JSON object: %v", ErrFacts, jsonProblem(err))
	}
	if d.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrFacts)
	}
	again, err := f.Encode()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, b) {
		return nil, fmt.Errorf("%w: not in canonical form (keys in order, once each, no spaces, no nulls): re-encode it with Encode", ErrFacts)
	}
	return f, nil
}

// jsonProblem describes a decoding error without the offending value
// (encoding/json quotes string values in some messages).
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %s: wrong JSON type %s", te.Field, te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return "truncated"
	}
	return err.Error() // an unknown key: its name
}
