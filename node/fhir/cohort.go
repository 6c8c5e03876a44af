package fhir

import (
	"bytes"
	"slices"
	"strings"
)

// PatientRecord is one patient and every resource that refers to them,
// each list sorted by id.
type PatientRecord struct {
	Patient      *Patient
	Encounters   []*Encounter
	Conditions   []*Condition
	Observations []*Observation
}

// Cohort is a hospital's patients with their records, sorted by Patient id.
// Every reference in it resolves.
type Cohort struct {
	Patients []*PatientRecord
	byID     map[string]*PatientRecord
}

// NewCohort merges the sets (ids must be unique across them), checks that
// every subject reference names a Patient among them (ErrDangling, with the
// position of the referring resource), and groups the resources per patient.
func NewCohort(sets ...*Set) (*Cohort, error) {
	all := &Set{pos: map[string]Position{}}
	for _, s := range sets {
		if err := all.Merge(s); err != nil {
			return nil, err
		}
	}
	c := &Cohort{byID: make(map[string]*PatientRecord, len(all.Patients))}
	for _, p := range all.Patients {
		r := &PatientRecord{Patient: p}
		c.byID[p.ID] = r
		c.Patients = append(c.Patients, r)
	}
	find := func(r Resource, subject Reference) (*PatientRecord, error) {
		if rec := c.byID[subject.PatientID()]; rec != nil {
			return rec, nil
		}
		key := r.ResourceType() + "/" + r.ResourceID()
		p := all.pos[key]
		return nil, &Error{File: p.File, Line: p.Line, Entry: p.Entry, Resource: key, Field: "subject.reference", Kind: ErrDangling,
			Msg: subject.Reference + " is not among the patients read"}
	}
	for _, e := range all.Encounters {
		rec, err := find(e, e.Subject)
		if err != nil {
			return nil, err
		}
		rec.Encounters = append(rec.Encounters, e)
	}
	for _, x := range all.Conditions {
		rec, err := find(x, x.Subject)
		if err != nil {
			return nil, err
		}
		rec.Conditions = append(rec.Conditions, x)
	}
	for _, o := range all.Observations {
		rec, err := find(o, o.Subject)
		if err != nil {
			return nil, err
		}
		rec.Observations = append(rec.Observations, o)
	}
	byID := func(a, b Resource) int { return strings.Compare(a.ResourceID(), b.ResourceID()) }
	slices.SortFunc(c.Patients, func(a, b *PatientRecord) int { return strings.Compare(a.Patient.ID, b.Patient.ID) })
	for _, r := range c.Patients {
		slices.SortFunc(r.Encounters, func(a, b *Encounter) int { return byID(a, b) })
		slices.SortFunc(r.Conditions, func(a, b *Condition) int { return byID(a, b) })
		slices.SortFunc(r.Observations, func(a, b *Observation) int { return byID(a, b) })
	}
	return c, nil
}

// LoadCohort reads the files (ReadFile) and builds their Cohort.
func LoadCohort(lim Limits, paths ...string) (*Cohort, error) {
	sets := make([]*Set, 0, len(paths))
	for _, p := range paths {
		s, err := ReadFile(p, lim)
		if err != nil {
			return nil, err
		}
		sets = append(sets, s)
	}
	return NewCohort(sets...)
}

// Patient returns the record of the Patient with this id.
func (c *Cohort) Patient(id string) (*PatientRecord, bool) {
	r, ok := c.byID[id]
	return r, ok
}

// CanonicalJSON returns the patient's record as a canonical FHIR Bundle —
// the bytes the vault encrypts and whose hash goes on chain:
//
//	{"resourceType":"Bundle","type":"collection","entry":[{"resource":…},…]}
//
// with the Patient first, then its Encounters, Conditions and Observations,
// each group sorted by id, every resource in Canonical form, no whitespace.
// ReadBundle reads it back to an equal record.
func (r *PatientRecord) CanonicalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"resourceType":"Bundle","type":"collection","entry":[`)
	first := true
	put := func(res Resource) error {
		j, err := Canonical(res)
		if err != nil {
			return err
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(`{"resource":`)
		b.Write(j)
		b.WriteByte('}')
		return nil
	}
	if err := put(r.Patient); err != nil {
		return nil, err
	}
	for _, rs := range [][]Resource{resources(r.Encounters), resources(r.Conditions), resources(r.Observations)} {
		for _, res := range rs {
			if err := put(res); err != nil {
				return nil, err
			}
		}
	}
	b.WriteString("]}")
	return b.Bytes(), nil
}
