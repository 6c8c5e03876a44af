package cohort

import (
	"cmp"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
	"github.com/medchain/medchain/node/fhir"
)

// numFields sizes arrays indexed by pb.Field (FIELD_AGE … FIELD_SBP).
const numFields = int(pb.Field_FIELD_SBP) + 1

// loincFields maps the LOINC codes medchain measures to query fields.
var loincFields = map[string]pb.Field{
	fhir.LOINCHbA1c:      pb.Field_FIELD_HBA1C,
	fhir.LOINCBMI:        pb.Field_FIELD_BMI,
	fhir.LOINCSystolicBP: pb.Field_FIELD_SBP,
}

var sexOf = map[string]pb.Sex{
	"female": pb.Sex_SEX_FEMALE, "male": pb.Sex_SEX_MALE, "other": pb.Sex_SEX_OTHER, "unknown": pb.Sex_SEX_UNKNOWN,
}

// Facts are what research statistics use of one patient (one pseudonym)
// at one hospital, from that hospital's records only (node/synth/TRUTH.md,
// "patient facts").
type Facts struct {
	Pseudonym string
	Sex       pb.Sex // SEX_UNSPECIFIED when the Patient has no gender
	// BirthDate and DeathDate are YYYYMMDD, 0 when absent.
	BirthDate, DeathDate uint32
	// ResearchConsent is the FHIR consent flag. Whether a patient counts
	// for a query is the caller's decision (Evaluate's include).
	ResearchConsent bool
	Conditions      []Condition
	Encounters      []Encounter
	// FirstRecordDate is the earliest Encounter date; 0 without one.
	FirstRecordDate uint32

	latest [numFields]measurement
}

// Condition is a diagnosis: its ICD-10 codes and its onset date (0 when
// the Condition has none).
type Condition struct {
	Codes []string
	Onset uint32
}

// Encounter is a visit: its class code (AMB, IMP, EMER) and its date, the
// calendar date of period.start (period.end without a start).
type Encounter struct {
	Class string
	Date  uint32
}

// measurement is the latest Observation of a field: the greatest
// effectiveDateTime instant, ties by greatest Observation id.
type measurement struct {
	ok    bool
	value int64 // × the field's scale (query.Scale)
	at    time.Time
	id    string
}

func (m measurement) laterThan(o measurement) bool {
	if !o.ok {
		return m.ok
	}
	if c := m.at.Compare(o.at); c != 0 {
		return c > 0
	}
	return m.id > o.id
}

// Latest returns the latest value of a measured field (hba1c, bmi, sbp),
// scaled by query.Scale; false when the patient has none.
func (f *Facts) Latest(field pb.Field) (int64, bool) {
	if field == pb.Field_FIELD_AGE || field <= 0 || int(field) >= numFields {
		return 0, false
	}
	m := f.latest[field]
	return m.value, m.ok
}

// Value is the patient's value of field at the reference date ref
// (YYYYMMDD): age in completed years (false when the birth date is unknown
// or after ref), else Latest.
func (f *Facts) Value(field pb.Field, ref uint32) (int64, bool) {
	if field == pb.Field_FIELD_AGE {
		return ageAt(f.BirthDate, ref)
	}
	return f.Latest(field)
}

// HasCondition reports whether a Condition of the patient has an ICD-10
// code that is code or starts with code and a dot ("E11" matches "E11.9",
// not "E110").
func (f *Facts) HasCondition(code string) bool {
	for _, c := range f.Conditions {
		if c.matches(code) {
			return true
		}
	}
	return false
}

func (c Condition) matches(code string) bool {
	for _, x := range c.Codes {
		if x == code || len(x) > len(code) && x[len(code)] == '.' && strings.HasPrefix(x, code) {
			return true
		}
	}
	return false
}

// Table is one hospital's patients, by pseudonym.
type Table struct {
	patients    []*Facts // ascending pseudonym
	byPseudonym map[string]*Facts
	// Unattached counts clinical resources whose subject no patient-facts
	// entry names (a vault written before the relay kept patient facts:
	// run `medchain ingest read` again). They count for no one.
	Unattached int
	// Conflicts counts local Patient ids that two pseudonyms' facts claim
	// (a Patient whose identity fields changed). Their resources count for
	// no one.
	Conflicts int
}

// Len is the number of patients.
func (t *Table) Len() int { return len(t.patients) }

// Patients returns the patients in ascending pseudonym order. The caller
// must not modify them.
func (t *Table) Patients() []*Facts { return t.patients }

// Patient returns the facts of a pseudonym.
func (t *Table) Patient(pseudonym string) (*Facts, bool) {
	f, ok := t.byPseudonym[pseudonym]
	return f, ok
}

// part is what one clinical resource adds to its subject's facts.
type part struct {
	local string
	cond  *Condition
	enc   *Encounter
	obs   [numFields]measurement
}

// partOf extracts what research statistics use of a clinical resource.
// Resources entered in error (and cancelled Observations) add nothing;
// so do Observations without an effectiveDateTime.
func partOf(r fhir.Resource) (part, bool) {
	switch r := r.(type) {
	case *fhir.Encounter:
		if r.Status == "entered-in-error" || r.Period == nil {
			return part{}, false
		}
		d := r.Period.Start
		if d == "" {
			d = r.Period.End
		}
		day, ok := dayOfDateTime(d)
		if !ok {
			return part{}, false
		}
		return part{local: r.Subject.PatientID(), enc: &Encounter{Class: r.Class.Code, Date: day}}, true
	case *fhir.Condition:
		c := &Condition{}
		for _, cd := range r.Code.Coding {
			if cd.System == fhir.SystemICD10 && cd.Code != "" {
				c.Codes = append(c.Codes, cd.Code)
			}
		}
		if len(c.Codes) == 0 {
			return part{}, false
		}
		if r.OnsetDateTime != "" {
			c.Onset, _ = dayOfDateTime(r.OnsetDateTime)
		}
		return part{local: r.Subject.PatientID(), cond: c}, true
	case *fhir.Observation:
		if r.Status == "entered-in-error" || r.Status == "cancelled" || r.EffectiveDateTime == "" {
			return part{}, false
		}
		at, err := r.EffectiveDateTime.Instant()
		if err != nil {
			return part{}, false
		}
		p := part{local: r.Subject.PatientID()}
		found := false
		for _, cd := range r.Code.Coding {
			f, known := loincFields[cd.Code]
			if cd.System != fhir.SystemLOINC || !known {
				continue
			}
			v, ok := scaledValue(r.ValueQuantity.Value, query.Scale(f))
			if !ok {
				continue
			}
			p.obs[f] = measurement{ok: true, value: v, at: at, id: r.ID}
			found = true
		}
		return p, found
	}
	return part{}, false
}

// saturation bounds stored values; Evaluate clips each value to its
// field's bound anyway (query.Layout), so a larger one changes nothing.
const saturation = int64(1) << 53

// scaledValue is d × scale rounded to the nearest integer (halves away from
// zero), saturated at ±2^53: the documented fixed-point precision of a
// field is its scale (hba1c and bmi: 0.01; sbp and age: 1).
func scaledValue(d fhir.Decimal, scale int64) (int64, bool) {
	r, err := d.Rat()
	if err != nil {
		return 0, false
	}
	r.Mul(r, new(big.Rat).SetInt64(scale))
	num, den := r.Num(), r.Denom()
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	if m.Sign() != 0 && new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2)).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(int64(num.Sign())))
	}
	switch {
	case q.Cmp(big.NewInt(saturation)) > 0:
		return saturation, true
	case q.Cmp(big.NewInt(-saturation)) < 0:
		return -saturation, true
	}
	return q.Int64(), true
}

// builder gathers patient facts and clinical parts, in any order, into a
// Table.
type builder struct {
	facts map[string]*PatientFacts // by pseudonym: the highest generation
	parts map[string][]part        // by local Patient id
}

func newBuilder() *builder {
	return &builder{facts: map[string]*PatientFacts{}, parts: map[string][]part{}}
}

var errDuplicateFacts = errors.New("two patient-facts entries of one pseudonym have the same generation")

func (b *builder) addFacts(f *PatientFacts) error {
	if old := b.facts[f.Pseudonym]; old != nil {
		if old.Generation == f.Generation {
			return errDuplicateFacts
		}
		if old.Generation > f.Generation {
			return nil
		}
	}
	b.facts[f.Pseudonym] = f
	return nil
}

func (b *builder) addPart(p part) { b.parts[p.local] = append(b.parts[p.local], p) }

// table attaches the parts to the facts of the pseudonym whose entry names
// their local id.
func (b *builder) table() *Table {
	claims := map[string]int{}
	for _, f := range b.facts {
		for _, id := range f.LocalIDs {
			claims[id]++
		}
	}
	t := &Table{byPseudonym: make(map[string]*Facts, len(b.facts))}
	for _, n := range claims {
		if n > 1 {
			t.Conflicts++
		}
	}
	for id, ps := range b.parts {
		if claims[id] != 1 {
			t.Unattached += len(ps)
		}
	}
	for _, pf := range b.facts {
		f := &Facts{Pseudonym: pf.Pseudonym, Sex: sexOf[pf.Sex], BirthDate: pf.BirthDate, DeathDate: pf.DeathDate,
			ResearchConsent: pf.ResearchConsent}
		for _, id := range pf.LocalIDs {
			if claims[id] != 1 {
				continue
			}
			for _, p := range b.parts[id] {
				f.attach(p)
			}
		}
		f.finish()
		t.patients = append(t.patients, f)
		t.byPseudonym[f.Pseudonym] = f
	}
	slices.SortFunc(t.patients, func(a, b *Facts) int { return strings.Compare(a.Pseudonym, b.Pseudonym) })
	return t
}

func (f *Facts) attach(p part) {
	if p.cond != nil {
		f.Conditions = append(f.Conditions, *p.cond)
	}
	if p.enc != nil {
		f.Encounters = append(f.Encounters, *p.enc)
	}
	for i, m := range p.obs {
		if m.laterThan(f.latest[i]) {
			f.latest[i] = m
		}
	}
}

// finish orders the lists (the order of the vault or of a file does not
// show) and finds the first record date.
func (f *Facts) finish() {
	slices.SortFunc(f.Conditions, func(a, b Condition) int {
		return cmp.Or(slices.Compare(a.Codes, b.Codes), cmp.Compare(a.Onset, b.Onset))
	})
	slices.SortFunc(f.Encounters, func(a, b Encounter) int {
		return cmp.Or(cmp.Compare(a.Date, b.Date), strings.Compare(a.Class, b.Class))
	})
	if len(f.Encounters) > 0 {
		f.FirstRecordDate = f.Encounters[0].Date
	}
}

// DefaultIdentity are the identity fields FromFHIR derives pseudonyms from
// when given none: all four, as the relay does by default.
var DefaultIdentity = []string{fhir.FieldNationalID, fhir.FieldInsurance, fhir.FieldName, fhir.FieldPhone}

// FromFHIR builds the Table of one hospital straight from its export, with
// the pseudonyms the relay would derive (the alliance pepper and identity
// fields; nil identity: DefaultIdentity). It gives the same Table as Load
// over the vault the relay writes from that export; tests and the
// plaintext baseline use it. Errors never quote identity values.
func FromFHIR(set *fhir.Set, pepper []byte, identity []string) (*Table, error) {
	if set == nil {
		return nil, errors.New("cohort: no FHIR set")
	}
	if identity == nil {
		identity = DefaultIdentity
	}
	c, err := fhir.NewCohort(set)
	if err != nil {
		return nil, fmt.Errorf("cohort: %w", err)
	}
	byPseudonym := map[string][]*fhir.Patient{}
	var order []string
	b := newBuilder()
	for _, pr := range c.Patients {
		pid, err := fhir.Pseudonym(pepper, fhir.IdentityOf(pr.Patient), identity)
		if err != nil {
			where := "a Patient"
			if p, ok := set.Position("Patient/" + pr.Patient.ID); ok {
				where = "the Patient at " + p.String()
			}
			return nil, fmt.Errorf("cohort: %s: no pseudonym can be derived: %v", where, err)
		}
		if byPseudonym[pid] == nil {
			order = append(order, pid)
		}
		byPseudonym[pid] = append(byPseudonym[pid], pr.Patient)
		for _, rs := range [][]fhir.Resource{resourcesOf(pr.Encounters), resourcesOf(pr.Conditions), resourcesOf(pr.Observations)} {
			for _, r := range rs {
				if p, ok := partOf(r); ok {
					b.addPart(p)
				}
			}
		}
	}
	for _, pid := range order {
		f, err := NewPatientFacts("", pid, byPseudonym[pid])
		if err != nil {
			return nil, err
		}
		if err := b.addFacts(f); err != nil {
			return nil, err
		}
	}
	return b.table(), nil
}

func resourcesOf[T fhir.Resource](rs []T) []fhir.Resource {
	out := make([]fhir.Resource, len(rs))
	for i, r := range rs {
		out[i] = r
	}
	return out
}
