package fhir

import "fmt"

// Value sets checked by Validate.
var (
	genders          = set("male", "female", "other", "unknown")
	nameUses         = set("usual", "official", "temp", "nickname", "anonymous", "old", "maiden")
	telecomSystems   = set("phone", "fax", "email", "pager", "url", "sms", "other")
	telecomUses      = set("home", "work", "temp", "old", "mobile")
	encounterStatus  = set("planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled", "entered-in-error", "unknown")
	observationState = set("registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown")
)

func set(vs ...string) map[string]bool {
	m := make(map[string]bool, len(vs))
	for _, v := range vs {
		m[v] = true
	}
	return m
}

// Validate checks one resource against the rules in the package comment,
// except that references resolve (NewCohort checks that). The readers call
// it on every resource; call it on resources built in code. The error is a
// *Error naming the resource and field.
func Validate(r Resource) error {
	var fe *fieldError
	switch r := r.(type) {
	case *Patient:
		fe = validatePatient(r)
	case *Encounter:
		fe = validateEncounter(r)
	case *Condition:
		fe = validateCondition(r)
	case *Observation:
		fe = validateObservation(r)
	case nil:
		return &Error{Entry: -1, Kind: ErrInvalid, Msg: "nil resource"}
	default:
		return &Error{Entry: -1, Kind: ErrResourceType, Msg: fmt.Sprintf("unsupported resource %T", r)}
	}
	if fe != nil {
		return at(fe, "", 0, -1, r.ResourceType()+"/"+r.ResourceID())
	}
	return nil
}

func checkID(id string) *fieldError {
	if id == "" {
		return ferr("id", ErrMissing, "id is required")
	}
	if !isID(id) {
		return ferr("id", ErrInvalid, "id %q must be 1 to 64 of A-Z a-z 0-9 . -", id)
	}
	return nil
}

func checkSubject(r Reference) *fieldError {
	if r.Reference == "" {
		return ferr("subject.reference", ErrMissing, "a subject reference \"Patient/<id>\" is required")
	}
	if r.PatientID() == "" {
		return ferr("subject.reference", ErrInvalid, "%q is not a reference \"Patient/<id>\"", r.Reference)
	}
	return nil
}

func checkString(field, v string, required bool) *fieldError {
	if v == "" {
		if required {
			return ferr(field, ErrMissing, "required")
		}
		return nil
	}
	return nil
}

func checkCode(field string, v string, allowed map[string]bool, required bool) *fieldError {
	if v == "" {
		if required {
			return ferr(field, ErrMissing, "required")
		}
		return nil
	}
	if !allowed[v] {
		return ferr(field, ErrInvalid, "%q is not an allowed code", v)
	}
	return nil
}

func checkCoding(field string, c Coding) *fieldError {
	if c.System == "" {
		return ferr(field+".system", ErrMissing, "a coding needs a system")
	}
	if c.Code == "" {
		return ferr(field+".code", ErrMissing, "a coding needs a code")
	}
	return nil
}

func checkConcept(field string, c CodeableConcept) *fieldError {
	if len(c.Coding) == 0 {
		return ferr(field+".coding", ErrMissing, "at least one coding is required")
	}
	for i, cd := range c.Coding {
		if fe := checkCoding(fmt.Sprintf("%s.coding[%d]", field, i), cd); fe != nil {
			return fe
		}
	}
	return nil
}

func checkDateTime(field string, d DateTime) *fieldError {
	if d == "" {
		return nil
	}
	if _, err := d.Instant(); err != nil {
		return ferr(field, ErrInvalid, "%v", err)
	}
	return nil
}

func validatePatient(p *Patient) *fieldError {
	if fe := checkID(p.ID); fe != nil {
		return fe
	}
	consent := 0
	for i, e := range p.Extension {
		f := fmt.Sprintf("extension[%d]", i)
		if e.URL != ConsentExtensionURL {
			return ferr(f+".url", ErrUnknownField, "extension %q is not supported (only %s)", e.URL, ConsentExtensionURL)
		}
		if e.ValueBoolean == nil {
			return ferr(f+".valueBoolean", ErrMissing, "the consent extension needs a valueBoolean")
		}
		if consent++; consent > 1 {
			return ferr(f, ErrDuplicate, "more than one research-consent extension")
		}
	}
	seen := map[string]bool{}
	for i, id := range p.Identifier {
		f := fmt.Sprintf("identifier[%d]", i)
		if id.System == "" {
			return ferr(f+".system", ErrMissing, "an identifier needs a system")
		}
		if id.Value == "" {
			return ferr(f+".value", ErrMissing, "an identifier needs a value")
		}
		if (id.System == SystemNationalID || id.System == SystemInsurance) && seen[id.System] {
			return ferr(f, ErrDuplicate, "a second %s identifier makes the identity ambiguous", id.System)
		}
		seen[id.System] = true
	}
	for i, n := range p.Name {
		f := fmt.Sprintf("name[%d]", i)
		if fe := checkCode(f+".use", n.Use, nameUses, false); fe != nil {
			return fe
		}
		if n.Family == "" && len(n.Given) == 0 {
			return ferr(f, ErrMissing, "a name needs a family or a given name")
		}
		for j, g := range n.Given {
			if g == "" {
				return ferr(fmt.Sprintf("%s.given[%d]", f, j), ErrInvalid, "empty string")
			}
		}
	}
	for i, c := range p.Telecom {
		f := fmt.Sprintf("telecom[%d]", i)
		if fe := checkCode(f+".system", c.System, telecomSystems, true); fe != nil {
			return fe
		}
		if fe := checkString(f+".value", c.Value, true); fe != nil {
			return fe
		}
		if fe := checkCode(f+".use", c.Use, telecomUses, false); fe != nil {
			return fe
		}
	}
	if fe := checkCode("gender", p.Gender, genders, false); fe != nil {
		return fe
	}
	var birth string
	if p.BirthDate != "" {
		if _, err := p.BirthDate.Time(); err != nil {
			return ferr("birthDate", ErrInvalid, "%v", err)
		}
		birth = string(p.BirthDate)
	}
	if fe := checkDateTime("deceasedDateTime", p.DeceasedDateTime); fe != nil {
		return fe
	}
	if birth != "" && p.DeceasedDateTime != "" && string(p.DeceasedDateTime[:10]) < birth {
		return ferr("deceasedDateTime", ErrInvalid, "%s is before birthDate %s", p.DeceasedDateTime, birth)
	}
	return nil
}

func validateEncounter(e *Encounter) *fieldError {
	if fe := checkID(e.ID); fe != nil {
		return fe
	}
	if fe := checkCode("status", e.Status, encounterStatus, true); fe != nil {
		return fe
	}
	if fe := checkCoding("class", e.Class); fe != nil {
		return fe
	}
	if fe := checkSubject(e.Subject); fe != nil {
		return fe
	}
	if e.Period != nil {
		if e.Period.Start == "" && e.Period.End == "" {
			return ferr("period", ErrMissing, "a period needs a start or an end")
		}
		if fe := checkDateTime("period.start", e.Period.Start); fe != nil {
			return fe
		}
		if fe := checkDateTime("period.end", e.Period.End); fe != nil {
			return fe
		}
		if e.Period.Start != "" && e.Period.End != "" {
			s, _ := e.Period.Start.Instant()
			t, _ := e.Period.End.Instant()
			if t.Before(s) {
				return ferr("period.end", ErrInvalid, "%s is before period.start %s", e.Period.End, e.Period.Start)
			}
		}
	}
	return nil
}

func validateCondition(c *Condition) *fieldError {
	if fe := checkID(c.ID); fe != nil {
		return fe
	}
	if fe := checkConcept("code", c.Code); fe != nil {
		return fe
	}
	if fe := checkSubject(c.Subject); fe != nil {
		return fe
	}
	return checkDateTime("onsetDateTime", c.OnsetDateTime)
}

func validateObservation(o *Observation) *fieldError {
	if fe := checkID(o.ID); fe != nil {
		return fe
	}
	if fe := checkCode("status", o.Status, observationState, true); fe != nil {
		return fe
	}
	if fe := checkConcept("code", o.Code); fe != nil {
		return fe
	}
	if fe := checkSubject(o.Subject); fe != nil {
		return fe
	}
	if fe := checkDateTime("effectiveDateTime", o.EffectiveDateTime); fe != nil {
		return fe
	}
	if o.ValueQuantity.Value == "" {
		return ferr("valueQuantity.value", ErrMissing, "a numeric value is required")
	}
	if !o.ValueQuantity.Value.valid() {
		return ferr("valueQuantity.value", ErrInvalid, "%q is not a decimal without exponent (at most %d characters)", string(o.ValueQuantity.Value), maxDecimalLen)
	}
	return nil
}
