package fhir

import (
	"errors"
	"fmt"
	"strings"
)

// Causes of read errors. Every *Error wraps one of them, so callers test with
// errors.Is.
var (
	// ErrSyntax: the bytes are not one valid JSON value (or not UTF-8).
	ErrSyntax = errors.New("fhir: invalid JSON")
	// ErrTooLarge: a limit was exceeded (file bytes, line bytes, resources).
	ErrTooLarge = errors.New("fhir: input too large")
	// ErrResourceType: resourceType is missing, unsupported or unexpected.
	ErrResourceType = errors.New("fhir: unsupported resourceType")
	// ErrUnknownField: a key that the medchain subset does not model.
	ErrUnknownField = errors.New("fhir: unknown field")
	// ErrMissing: a required element is absent.
	ErrMissing = errors.New("fhir: missing required field")
	// ErrInvalid: an element has the wrong JSON type or an invalid value.
	ErrInvalid = errors.New("fhir: invalid value")
	// ErrDuplicate: a repeated JSON key, or two resources with the same
	// type and id.
	ErrDuplicate = errors.New("fhir: duplicate")
	// ErrDangling: a reference to a Patient that is not in the set.
	ErrDangling = errors.New("fhir: unresolved reference")
)

// Error is a read or validation error with its position. Fields that do not
// apply are zero ("" or 0), except Entry, which is -1 outside a Bundle.
type Error struct {
	File     string // file name, when reading a file
	Line     int    // 1-based line where the resource (or problem) starts
	Entry    int    // 0-based Bundle entry index, or -1
	Resource string // "Type/id" when known
	Field    string // element path inside the resource, e.g. "subject.reference"
	Kind     error  // one of the Err* causes above
	Msg      string // what is wrong, for a person
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Entry >= 0 {
		fmt.Fprintf(&b, "entry %d: ", e.Entry)
	}
	if e.Resource != "" {
		b.WriteString(e.Resource)
		b.WriteString(": ")
	}
	if e.Field != "" {
		fmt.Fprintf(&b, "field %s: ", e.Field)
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Kind }

// fieldError is what the decoders and validators return: a cause and a path
// inside one resource. The readers add the position.
type fieldError struct {
	field string
	kind  error
	msg   string
}

func (e *fieldError) Error() string {
	if e.field == "" {
		return e.msg
	}
	return "field " + e.field + ": " + e.msg
}

func (e *fieldError) Unwrap() error { return e.kind }

func ferr(field string, kind error, format string, args ...any) *fieldError {
	return &fieldError{field: field, kind: kind, msg: fmt.Sprintf(format, args...)}
}

// at turns err (a *fieldError, *Error or other) into an *Error at a position.
func at(err error, file string, line, entry int, resource string) *Error {
	var e *Error
	if errors.As(err, &e) {
		c := *e
		if c.File == "" {
			c.File = file
		}
		if c.Line == 0 {
			c.Line = line
		}
		if c.Entry < 0 {
			c.Entry = entry
		}
		if c.Resource == "" {
			c.Resource = resource
		}
		return &c
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		return &Error{File: file, Line: line, Entry: entry, Resource: resource, Field: fe.field, Kind: fe.kind, Msg: fe.msg}
	}
	return &Error{File: file, Line: line, Entry: entry, Resource: resource, Kind: ErrInvalid, Msg: err.Error()}
}
