package ingest

import (
	"errors"
	"strings"

	"github.com/medchain/medchain/node/fhir"
)

// redact keeps a FHIR read error's position, field and cause but withholds
// what could identify a patient: a Patient's local id, and any message that
// may quote a value of a Patient (identifier, name, phone, birth date) or a
// reference to one. The operator finds the resource by file and line.
func redact(err error) error {
	var fe *fhir.Error
	if !errors.As(err, &fe) {
		return err
	}
	c := *fe
	patient := c.Resource == "Patient" || strings.HasPrefix(c.Resource, "Patient/")
	if patient {
		c.Resource = "Patient"
	}
	switch {
	case c.Kind == fhir.ErrDangling:
		c.Msg = "the Patient it refers to is not among the patients read"
	case strings.HasSuffix(c.Field, "subject.reference") && c.Kind == fhir.ErrInvalid:
		c.Msg = `not a reference "Patient/<id>" (the value is not shown: it may identify a patient)`
	case patient && (c.Kind == fhir.ErrInvalid || c.Kind == fhir.ErrDuplicate):
		c.Msg = "invalid value (not shown: it may identify a patient)"
	}
	return &c
}
