package synth

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/medchain/medchain/node/fhir"
)

const (
	loincA1c = fhir.LOINCHbA1c
	loincSBP = fhir.LOINCSystolicBP
	loincBMI = fhir.LOINCBMI
)

var loincInfo = map[string]struct{ display, unit, ucum string }{
	loincA1c: {"Hemoglobin A1c/Hemoglobin.total in Blood", "%", "%"},
	loincSBP: {"Systolic blood pressure", "mmHg", "mm[Hg]"},
	loincBMI: {"Body mass index (BMI) [Ratio]", "kg/m2", "kg/m2"},
}

// MRNSystem is the identifier system of hospital h's local record numbers.
func MRNSystem(h int) string { return fmt.Sprintf("urn:medchain:mrn:hospital%d", h) }

// Each hospital writes identities in its own style (style = index mod 3), so
// that only normalisation links the same person across hospitals.
func (pt *patient) fhirPatient() *fhir.Patient {
	p := pt.person
	style := pt.hospital % 3
	nid, ins, family, given, mobile := p.nationalID, p.insurance, p.family, p.given, p.mobile
	switch style {
	case 1:
		nid = strings.ToLower(nid[:6] + "-" + nid[6:14] + "-" + nid[14:])
		ins = "ins-" + ins[3:7] + "-" + ins[7:]
		family = strings.ToUpper(family)
		mobile = mobile[:3] + "-" + mobile[3:7] + "-" + mobile[7:]
	case 2:
		nid = nid[:6] + " " + nid[6:14] + " " + nid[14:]
		ins = "INS " + ins[3:7] + " " + ins[7:]
		family, given = strings.ToLower(family), strings.ToUpper(given)
		mobile = "(" + mobile[:3] + ") " + mobile[3:7] + " " + mobile[7:]
	}
	out := &fhir.Patient{
		ID: pt.id,
		Identifier: []fhir.Identifier{
			{System: MRNSystem(pt.hospital), Value: pt.mrn},
			{System: fhir.SystemNationalID, Value: nid},
			{System: fhir.SystemInsurance, Value: ins},
		},
		Name:      []fhir.HumanName{{Use: "official", Family: family, Given: []string{given}}},
		Gender:    p.sex,
		BirthDate: fhir.Date(p.birth.String()),
	}
	if p.consent >= 0 {
		yes := p.consent == 1
		out.Extension = []fhir.Extension{{URL: fhir.ConsentExtensionURL, ValueBoolean: &yes}}
	}
	if p.home2 != "" {
		out.Telecom = append(out.Telecom, fhir.ContactPoint{System: "phone", Value: p.home2, Use: "home"})
	}
	out.Telecom = append(out.Telecom, fhir.ContactPoint{System: "phone", Value: mobile, Use: "mobile"})
	if p.dead {
		out.DeceasedDateTime = fhir.DateTime(p.death.String())
	}
	return out
}

func dateTime(d day, minutes int) fhir.DateTime {
	return fhir.DateTime(fmt.Sprintf("%sT%02d:%02d:00+08:00", d, minutes/60, minutes%60))
}

// resources returns pt's resources of one type.
func (pt *patient) resources(resourceType string) []fhir.Resource {
	subject := fhir.Reference{Reference: "Patient/" + pt.id}
	var out []fhir.Resource
	switch resourceType {
	case "Patient":
		return []fhir.Resource{pt.fhirPatient()}
	case "Encounter":
		return pt.encounterResources(subject)
	case "Condition":
		return pt.conditionResources(subject)
	case "Observation":
		return pt.observationResources(subject)
	}
	return out
}

func (pt *patient) encounterResources(subject fhir.Reference) []fhir.Resource {
	var out []fhir.Resource
	for _, e := range pt.encounters {
		c := encounterClasses[e.class]
		out = append(out, &fhir.Encounter{
			ID: e.id, Status: "finished",
			Class:   fhir.Coding{System: fhir.SystemActCode, Code: c.code, Display: c.display},
			Subject: subject,
			Period:  &fhir.Period{Start: dateTime(e.start, e.startMin), End: dateTime(e.end, e.endMin)},
		})
	}
	return out
}

func (pt *patient) conditionResources(subject fhir.Reference) []fhir.Resource {
	var out []fhir.Resource
	for _, c := range pt.conditions {
		out = append(out, &fhir.Condition{
			ID:            c.id,
			Code:          fhir.CodeableConcept{Coding: []fhir.Coding{{System: fhir.SystemICD10, Code: c.code, Display: c.display}}},
			Subject:       subject,
			OnsetDateTime: fhir.DateTime(c.onset.String()),
		})
	}
	return out
}

func (pt *patient) observationResources(subject fhir.Reference) []fhir.Resource {
	var out []fhir.Resource
	for _, o := range pt.observations {
		info := loincInfo[o.code]
		out = append(out, &fhir.Observation{
			ID: o.id, Status: "final",
			Code:              fhir.CodeableConcept{Coding: []fhir.Coding{{System: fhir.SystemLOINC, Code: o.code, Display: info.display}}},
			Subject:           subject,
			EffectiveDateTime: dateTime(o.at, o.atMin),
			ValueQuantity:     fhir.Quantity{Value: fhir.DecimalFromScaled(o.value, o.scale), Unit: info.unit, System: fhir.SystemUCUM, Code: info.ucum},
		})
	}
	return out
}

// Files written per hospital, in hospital<i>/, one resource per line,
// sorted by id.
var resourceFiles = []struct{ name, resourceType string }{
	{"patients.ndjson", "Patient"},
	{"encounters.ndjson", "Encounter"},
	{"conditions.ndjson", "Condition"},
	{"observations.ndjson", "Observation"},
}

// Summary describes what Write wrote.
type Summary struct {
	Dir               string   `json:"dir"`
	Files             []string `json:"files"` // relative to Dir, sorted
	Bytes             int64    `json:"bytes"`
	Hospitals         int      `json:"hospitals"`
	PatientRecords    int      `json:"patient_records"`
	Persons           int      `json:"persons"`
	SharedPersons     int      `json:"shared_persons"`
	ConsentingPersons int      `json:"consenting_persons"`
	Encounters        int      `json:"encounters"`
	Conditions        int      `json:"conditions"`
	Observations      int      `json:"observations"`
	TruthSHA256       string   `json:"truth_sha256"`
}

// ErrDirNotEmpty: Write refuses a folder that already holds something.
var ErrDirNotEmpty = errors.New("synth: output folder is not empty")

// CheckOutDir returns nil when dir is absent or an empty folder, else
// ErrDirNotEmpty or the error met looking. Call it before Generate to fail
// early; Write checks again.
func CheckOutDir(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	case len(ents) > 0:
		return fmt.Errorf("%w: %s", ErrDirNotEmpty, dir)
	}
	return nil
}

// Write writes the data set into dir, which must be empty or absent:
// dir/hospital<i>/{patients,encounters,conditions,observations}.ndjson and
// dir/truth.json (indented JSON, TRUTH.md). On error it removes what it
// wrote, leaving dir as it found it.
func (d *Dataset) Write(dir string) (s *Summary, err error) {
	if err := CheckOutDir(dir); err != nil {
		return nil, err
	}
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if err == nil {
			return
		}
		if statErr != nil { // dir did not exist
			os.RemoveAll(dir)
			return
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}()
	return d.write(dir)
}

func (d *Dataset) write(dir string) (*Summary, error) {
	s := &Summary{Dir: dir, Hospitals: len(d.Hospitals)}
	for _, h := range d.Hospitals {
		hdir := filepath.Join(dir, h.Name)
		if err := os.MkdirAll(hdir, 0o755); err != nil {
			return nil, err
		}
		for _, f := range resourceFiles {
			var rs []fhir.Resource
			for _, pt := range h.patients {
				rs = append(rs, pt.resources(f.resourceType)...)
			}
			switch f.resourceType {
			case "Patient":
				s.PatientRecords += len(rs)
			case "Encounter":
				s.Encounters += len(rs)
			case "Condition":
				s.Conditions += len(rs)
			case "Observation":
				s.Observations += len(rs)
			}
			slices.SortFunc(rs, func(a, b fhir.Resource) int { return strings.Compare(a.ResourceID(), b.ResourceID()) })
			rel := filepath.Join(h.Name, f.name)
			n, err := writeFile(filepath.Join(dir, rel), func(w io.Writer) error {
				for _, r := range rs {
					j, err := fhir.Canonical(r)
					if err != nil {
						return fmt.Errorf("synth: generated an invalid resource: %w", err)
					}
					if _, err := w.Write(append(j, '\n')); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			s.Files = append(s.Files, filepath.ToSlash(rel))
			s.Bytes += n
		}
	}
	truth, err := json.MarshalIndent(d.truth, "", "  ")
	if err != nil {
		return nil, err
	}
	truth = append(truth, '\n')
	n, err := writeFile(filepath.Join(dir, "truth.json"), func(w io.Writer) error { _, err := w.Write(truth); return err })
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(truth)
	s.TruthSHA256 = hex.EncodeToString(sum[:])
	s.Files = append(s.Files, "truth.json")
	s.Bytes += n
	slices.Sort(s.Files)
	s.Persons = d.truth.Alliance.Persons
	s.SharedPersons = d.truth.Alliance.SharedPersons
	s.ConsentingPersons = d.truth.Alliance.ConsentingPersons
	return s, nil
}

func writeFile(path string, fill func(io.Writer) error) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, err
	}
	cw := &countWriter{w: f}
	bw := bufio.NewWriterSize(cw, 1<<20)
	err = fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	return cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
