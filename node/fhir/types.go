package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Code systems, identifier systems and the extension this package knows.
const (
	SystemICD10      = "http://hl7.org/fhir/sid/icd-10"
	SystemLOINC      = "http://loinc.org"
	SystemUCUM       = "http://unitsofmeasure.org"
	SystemActCode    = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	SystemNationalID = "urn:medchain:national-id" // Patient.identifier: national (resident) id
	SystemInsurance  = "urn:medchain:insurance"   // Patient.identifier: health-insurance number

	// ConsentExtensionURL is the Patient extension holding research consent:
	// {"url": ConsentExtensionURL, "valueBoolean": true|false}. At most one per
	// Patient; absent means the patient has not consented (deny by default).
	// An extension was chosen over a Consent resource because medchain needs
	// one current yes/no per patient, which a flag on the Patient says without
	// a fifth resource type and its dates and policies.
	ConsentExtensionURL = "urn:medchain:research-consent"

	LOINCHbA1c      = "4548-4"  // Hemoglobin A1c/Hemoglobin.total in Blood, %
	LOINCSystolicBP = "8480-6"  // Systolic blood pressure, mm[Hg]
	LOINCBMI        = "39156-5" // Body mass index (BMI) [Ratio], kg/m2
)

// Resource is one of *Patient, *Encounter, *Condition, *Observation.
type Resource interface {
	ResourceType() string
	ResourceID() string
}

// Identifier is a business identifier (national id, insurance number, MRN).
type Identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

// HumanName is a structured name. use is one of the FHIR name-use codes.
type HumanName struct {
	Use    string   `json:"use,omitempty"`
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
}

// ContactPoint is a phone number, e-mail address, etc.
type ContactPoint struct {
	System string `json:"system"` // phone | fax | email | pager | url | sms | other
	Value  string `json:"value"`
	Use    string `json:"use,omitempty"` // home | work | temp | old | mobile
}

// Extension is the only extension medchain models: research consent.
type Extension struct {
	URL          string `json:"url"`
	ValueBoolean *bool  `json:"valueBoolean,omitempty"`
}

// Reference points at a Patient: "Patient/<id>".
type Reference struct {
	Reference string `json:"reference"`
}

// PatientID returns the id in "Patient/<id>", or "" for any other form.
func (r Reference) PatientID() string {
	if id, ok := strings.CutPrefix(r.Reference, "Patient/"); ok && isID(id) {
		return id
	}
	return ""
}

// Period is a time range; either end may be open.
type Period struct {
	Start DateTime `json:"start,omitempty"`
	End   DateTime `json:"end,omitempty"`
}

// Coding is one code in a code system.
type Coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

// CodeableConcept is a set of codings for one concept.
type CodeableConcept struct {
	Coding []Coding `json:"coding"`
	Text   string   `json:"text,omitempty"`
}

// Code returns the first code in system, or "".
func (c CodeableConcept) Code(system string) string {
	for _, cd := range c.Coding {
		if cd.System == system {
			return cd.Code
		}
	}
	return ""
}

// Quantity is a measured amount.
type Quantity struct {
	Value  Decimal `json:"value"`
	Unit   string  `json:"unit,omitempty"`
	System string  `json:"system,omitempty"`
	Code   string  `json:"code,omitempty"`
}

// Patient is a person receiving care at one hospital. The same person at two
// hospitals is two Patients with the same identity fields (see Pseudonym).
type Patient struct {
	ID               string         `json:"id"`
	Extension        []Extension    `json:"extension,omitempty"`
	Identifier       []Identifier   `json:"identifier,omitempty"`
	Name             []HumanName    `json:"name,omitempty"`
	Telecom          []ContactPoint `json:"telecom,omitempty"`
	Gender           string         `json:"gender,omitempty"` // male | female | other | unknown
	BirthDate        Date           `json:"birthDate,omitempty"`
	DeceasedDateTime DateTime       `json:"deceasedDateTime,omitempty"`
}

// Encounter is a visit or stay.
type Encounter struct {
	ID      string    `json:"id"`
	Status  string    `json:"status"`
	Class   Coding    `json:"class"`
	Subject Reference `json:"subject"`
	Period  *Period   `json:"period,omitempty"`
}

// Condition is a diagnosis (ICD-10 in medchain's data).
type Condition struct {
	ID            string          `json:"id"`
	Code          CodeableConcept `json:"code"`
	Subject       Reference       `json:"subject"`
	OnsetDateTime DateTime        `json:"onsetDateTime,omitempty"`
}

// Observation is a quantitative measurement (LOINC-coded in medchain's data).
type Observation struct {
	ID                string          `json:"id"`
	Status            string          `json:"status"`
	Code              CodeableConcept `json:"code"`
	Subject           Reference       `json:"subject"`
	EffectiveDateTime DateTime        `json:"effectiveDateTime,omitempty"`
	ValueQuantity     Quantity        `json:"valueQuantity"`
}

func (*Patient) ResourceType() string     { return "Patient" }
func (*Encounter) ResourceType() string   { return "Encounter" }
func (*Condition) ResourceType() string   { return "Condition" }
func (*Observation) ResourceType() string { return "Observation" }

func (p *Patient) ResourceID() string     { return p.ID }
func (e *Encounter) ResourceID() string   { return e.ID }
func (c *Condition) ResourceID() string   { return c.ID }
func (o *Observation) ResourceID() string { return o.ID }

// ResearchConsent reports whether the patient has consented to research use:
// true only with the consent extension set to true.
func (p *Patient) ResearchConsent() bool {
	for _, e := range p.Extension {
		if e.URL == ConsentExtensionURL && e.ValueBoolean != nil {
			return *e.ValueBoolean
		}
	}
	return false
}

// MarshalJSON writes resourceType first, then the elements in FHIR order.
func (p Patient) MarshalJSON() ([]byte, error) {
	type plain Patient
	return marshal(struct {
		ResourceType string `json:"resourceType"`
		plain
	}{"Patient", plain(p)})
}

func (e Encounter) MarshalJSON() ([]byte, error) {
	type plain Encounter
	return marshal(struct {
		ResourceType string `json:"resourceType"`
		plain
	}{"Encounter", plain(e)})
}

func (c Condition) MarshalJSON() ([]byte, error) {
	type plain Condition
	return marshal(struct {
		ResourceType string `json:"resourceType"`
		plain
	}{"Condition", plain(c)})
}

func (o Observation) MarshalJSON() ([]byte, error) {
	type plain Observation
	return marshal(struct {
		ResourceType string `json:"resourceType"`
		plain
	}{"Observation", plain(o)})
}

// Canonical returns the canonical JSON of r: compact, resourceType first and
// then the elements in FHIR order (the order of the Go struct fields), absent
// optional elements left out, strings escaped by encoding/json without HTML
// escaping, decimals written exactly as read. Equal resources give equal
// bytes. It fails only for a resource that does not Validate.
func Canonical(r Resource) ([]byte, error) {
	if err := Validate(r); err != nil {
		return nil, err
	}
	switch r := r.(type) {
	case *Patient:
		return r.MarshalJSON()
	case *Encounter:
		return r.MarshalJSON()
	case *Condition:
		return r.MarshalJSON()
	case *Observation:
		return r.MarshalJSON()
	}
	return marshal(r)
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

// Decimal is a FHIR decimal kept as its JSON text, so that precision (7.10 vs
// 7.1) survives a round trip. Valid values match -?(0|[1-9][0-9]*)(\.[0-9]+)? (no exponent).
type Decimal string

// maxDecimalLen bounds the text of a decimal (FHIR: 18 significant digits;
// the rest leaves room for a sign, point and leading zeros).
const maxDecimalLen = 40

// MarshalJSON writes the number as is.
func (d Decimal) MarshalJSON() ([]byte, error) {
	if !d.valid() {
		return nil, fmt.Errorf("fhir: invalid decimal %q", string(d))
	}
	return []byte(d), nil
}

func (d Decimal) valid() bool { return len(d) <= maxDecimalLen && isDecimalForm(string(d)) }

// Rat returns the exact value.
func (d Decimal) Rat() (*big.Rat, error) {
	if !d.valid() {
		return nil, fmt.Errorf("fhir: invalid decimal %q", string(d))
	}
	r, ok := new(big.Rat).SetString(string(d))
	if !ok {
		return nil, fmt.Errorf("fhir: invalid decimal %q", string(d))
	}
	return r, nil
}

// Scaled returns value × scale as an integer, or an error when that is not an
// exact int64 (fixed-point encoding for exact statistics).
func (d Decimal) Scaled(scale int64) (int64, error) {
	r, err := d.Rat()
	if err != nil {
		return 0, err
	}
	r.Mul(r, new(big.Rat).SetInt64(scale))
	if !r.IsInt() || !r.Num().IsInt64() {
		return 0, fmt.Errorf("fhir: %s × %d is not an exact 64-bit integer", string(d), scale)
	}
	return r.Num().Int64(), nil
}

// DecimalFromScaled writes v/scale with exactly log10(scale) decimals; scale
// must be a power of ten ≥ 1.
func DecimalFromScaled(v, scale int64) Decimal {
	digits := 0
	for s := scale; s > 1; s /= 10 {
		digits++
	}
	if digits == 0 {
		return Decimal(fmt.Sprint(v))
	}
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return Decimal(fmt.Sprintf("%s%d.%0*d", sign, v/scale, digits, v%scale))
}

// Date is a FHIR date restricted to full dates: YYYY-MM-DD.
type Date string

// DateTime is a FHIR dateTime: YYYY-MM-DD, or
// YYYY-MM-DDThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm).
type DateTime string

// Time returns the date as midnight UTC.
func (d Date) Time() (time.Time, error) {
	if !isDateForm(string(d)) {
		return time.Time{}, fmt.Errorf("%q is not a date YYYY-MM-DD", string(d))
	}
	t, err := time.Parse(time.DateOnly, string(d))
	if err != nil || t.Year() < 1 {
		return time.Time{}, fmt.Errorf("%q is not a valid calendar date", string(d))
	}
	return t, nil
}

// Instant returns the point in time; a date alone means its midnight UTC.
func (d DateTime) Instant() (time.Time, error) {
	if isDateForm(string(d)) {
		return Date(d).Time()
	}
	if !isDateTimeForm(string(d)) {
		return time.Time{}, fmt.Errorf("%q is not a dateTime (YYYY-MM-DD or YYYY-MM-DDThh:mm:ss with Z or ±hh:mm)", string(d))
	}
	t, err := time.Parse(time.RFC3339Nano, string(d))
	if err != nil || t.Year() < 1 {
		return time.Time{}, fmt.Errorf("%q is not a valid dateTime", string(d))
	}
	return t, nil
}

// Day returns the calendar date as written (the local date, ignoring the
// time and zone), as midnight UTC. Intervals in days are computed on Days.
func (d DateTime) Day() (time.Time, error) {
	if _, err := d.Instant(); err != nil {
		return time.Time{}, err
	}
	return Date(d[:10]).Time()
}
