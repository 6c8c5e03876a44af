package fhir

import (
	"encoding/json"
	"fmt"
	"io"
)

// object is one JSON object being decoded strictly: each accessor marks its
// key used; finish reports the first key nobody asked for. The first error
// sticks, so decoders read as a list of fields.
type object struct {
	path string
	keys []string
	vals [][]byte
	used []bool
	err  *fieldError
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// parseObject splits raw (one valid JSON value) into its keys, rejecting
// anything but an object and repeated keys.
func parseObject(raw []byte, path string) (*object, *fieldError) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, ferr(path, ErrInvalid, "want a JSON object, got %s", kindOf(raw))
	}
	keys, vals, fe := splitObject(raw, path)
	if fe != nil {
		return nil, fe
	}
	return &object{path: path, keys: keys, vals: vals, used: make([]bool, len(keys))}, nil
}

func kindOf(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func (o *object) fail(key string, kind error, format string, args ...any) {
	if o.err == nil {
		o.err = ferr(join(o.path, key), kind, format, args...)
	}
}

// get returns the raw value of key, or nil when absent (or after an error).
// null, "" and [] are errors: FHIR JSON never holds them.
func (o *object) get(key string, required bool) []byte {
	if o.err != nil {
		return nil
	}
	var v []byte
	for i, k := range o.keys {
		if k == key {
			o.used[i] = true
			v = o.vals[i]
			break
		}
	}
	if v == nil {
		if required {
			o.fail(key, ErrMissing, "required")
		}
		return nil
	}
	switch {
	case string(v) == "null":
		o.fail(key, ErrInvalid, "null is not allowed; leave the key out")
		return nil
	case string(v) == `""`:
		o.fail(key, ErrInvalid, "empty string is not allowed; leave the key out")
		return nil
	case v[0] == '[' && skipWS(v, 1) == len(v)-1:
		o.fail(key, ErrInvalid, "empty array is not allowed; leave the key out")
		return nil
	}
	return v
}

func (o *object) str(key string, required bool) string {
	v := o.get(key, required)
	if v == nil {
		return ""
	}
	return o.asString(key, v)
}

func (o *object) asString(field string, v []byte) string {
	if v[0] != '"' {
		o.fail(field, ErrInvalid, "want a string, got %s", kindOf(v))
		return ""
	}
	s, ok := unquote(v)
	if !ok {
		o.fail(field, ErrSyntax, "malformed string")
		return ""
	}
	if s == "" {
		o.fail(field, ErrInvalid, "empty string is not allowed")
	}
	return s
}

func (o *object) boolean(key string, required bool) *bool {
	v := o.get(key, required)
	if v == nil {
		return nil
	}
	var b bool
	switch string(v) {
	case "true":
		b = true
	case "false":
	default:
		o.fail(key, ErrInvalid, "want true or false, got %s", kindOf(v))
		return nil
	}
	return &b
}

func (o *object) decimal(key string, required bool) Decimal {
	v := o.get(key, required)
	if v == nil {
		return ""
	}
	if kindOf(v) != "a number" {
		o.fail(key, ErrInvalid, "want a number, got %s", kindOf(v))
		return ""
	}
	d := Decimal(v)
	if !d.valid() {
		o.fail(key, ErrInvalid, "%.40q is not a decimal without exponent (at most %d characters)", string(v), maxDecimalLen)
		return ""
	}
	return d
}

// child decodes key as an object with fn; it returns false when key is absent.
func (o *object) child(key string, required bool, fn func(c *object)) bool {
	v := o.get(key, required)
	if v == nil {
		return false
	}
	c, fe := parseObject(v, join(o.path, key))
	if fe != nil {
		o.err = fe
		return false
	}
	fn(c)
	if fe := c.finish(); fe != nil && o.err == nil {
		o.err = fe
	}
	return true
}

// array calls fn for each element of the array at key.
func (o *object) array(key string, fn func(i int, elem []byte, path string)) {
	v := o.get(key, false)
	if v == nil {
		return
	}
	if v[0] != '[' {
		o.fail(key, ErrInvalid, "want an array, got %s", kindOf(v))
		return
	}
	elems, fe := splitArray(v, join(o.path, key))
	if fe != nil {
		o.err = fe
		return
	}
	for i, e := range elems {
		if o.err != nil {
			return
		}
		fn(i, e, fmt.Sprintf("%s[%d]", join(o.path, key), i))
	}
}

// objects decodes each element of the array at key as an object.
func (o *object) objects(key string, fn func(c *object)) {
	o.array(key, func(_ int, e []byte, path string) {
		c, fe := parseObject(e, path)
		if fe != nil {
			o.err = fe
			return
		}
		fn(c)
		if fe := c.finish(); fe != nil && o.err == nil {
			o.err = fe
		}
	})
}

// strings decodes the array at key as non-empty strings.
func (o *object) strings(key string) []string {
	var out []string
	o.array(key, func(i int, e []byte, path string) {
		if e[0] != '"' {
			o.err = ferr(path, ErrInvalid, "want a string, got %s", kindOf(e))
			return
		}
		s, ok := unquote(e)
		if !ok || s == "" {
			o.err = ferr(path, ErrInvalid, "want a non-empty string")
			return
		}
		out = append(out, s)
	})
	return out
}

// finish returns the sticky error, or the first unknown key.
func (o *object) finish() *fieldError {
	if o.err != nil {
		return o.err
	}
	for i, k := range o.keys {
		if !o.used[i] {
			return ferr(join(o.path, k), ErrUnknownField, "unknown field %.64q (not in the medchain FHIR subset)", k)
		}
	}
	return nil
}

func codingOf(c *object) Coding {
	return Coding{System: c.str("system", false), Code: c.str("code", false), Display: c.str("display", false)}
}

func (o *object) concept(key string) CodeableConcept {
	var cc CodeableConcept
	o.child(key, true, func(c *object) {
		c.objects("coding", func(e *object) { cc.Coding = append(cc.Coding, codingOf(e)) })
		cc.Text = c.str("text", false)
	})
	return cc
}

func (o *object) subject() Reference {
	var r Reference
	o.child("subject", true, func(c *object) { r.Reference = c.str("reference", true) })
	return r
}

// supportedTypes lists the resource types, for error messages.
const supportedTypes = "Patient, Encounter, Condition or Observation"

// decodeResource decodes one resource (a JSON object with resourceType) and
// validates it. id is returned as soon as it is known, for error positions.
func decodeResource(raw []byte) (r Resource, name string, fe *fieldError) {
	o, fe := parseObject(raw, "")
	if fe != nil {
		return nil, "", fe
	}
	rt := o.str("resourceType", true)
	if o.err != nil {
		if o.err.kind == ErrMissing {
			o.err.kind = ErrResourceType
		}
		return nil, "", o.err
	}
	id := o.str("id", true)
	if o.err == nil {
		name = rt + "/" + id
	}
	switch rt {
	case "Patient":
		r = decodePatient(o, id)
	case "Encounter":
		r = decodeEncounter(o, id)
	case "Condition":
		r = decodeCondition(o, id)
	case "Observation":
		r = decodeObservation(o, id)
	default:
		return nil, "", ferr("resourceType", ErrResourceType, "resourceType %.64q is not supported (want %s)", rt, supportedTypes)
	}
	if fe := o.finish(); fe != nil {
		return nil, name, fe
	}
	switch r := r.(type) {
	case *Patient:
		fe = validatePatient(r)
	case *Encounter:
		fe = validateEncounter(r)
	case *Condition:
		fe = validateCondition(r)
	case *Observation:
		fe = validateObservation(r)
	}
	if fe != nil {
		return nil, name, fe
	}
	return r, name, nil
}

func decodePatient(o *object, id string) *Patient {
	p := &Patient{ID: id}
	o.objects("extension", func(c *object) {
		p.Extension = append(p.Extension, Extension{URL: c.str("url", true), ValueBoolean: c.boolean("valueBoolean", false)})
	})
	o.objects("identifier", func(c *object) {
		p.Identifier = append(p.Identifier, Identifier{System: c.str("system", false), Value: c.str("value", false)})
	})
	o.objects("name", func(c *object) {
		p.Name = append(p.Name, HumanName{Use: c.str("use", false), Family: c.str("family", false), Given: c.strings("given")})
	})
	o.objects("telecom", func(c *object) {
		p.Telecom = append(p.Telecom, ContactPoint{System: c.str("system", false), Value: c.str("value", false), Use: c.str("use", false)})
	})
	p.Gender = o.str("gender", false)
	p.BirthDate = Date(o.str("birthDate", false))
	p.DeceasedDateTime = DateTime(o.str("deceasedDateTime", false))
	return p
}

func decodeEncounter(o *object, id string) *Encounter {
	e := &Encounter{ID: id}
	e.Status = o.str("status", true)
	o.child("class", true, func(c *object) { e.Class = codingOf(c) })
	e.Subject = o.subject()
	o.child("period", false, func(c *object) {
		e.Period = &Period{Start: DateTime(c.str("start", false)), End: DateTime(c.str("end", false))}
	})
	return e
}

func decodeCondition(o *object, id string) *Condition {
	c := &Condition{ID: id}
	c.Code = o.concept("code")
	c.Subject = o.subject()
	c.OnsetDateTime = DateTime(o.str("onsetDateTime", false))
	return c
}

func decodeObservation(o *object, id string) *Observation {
	ob := &Observation{ID: id}
	ob.Status = o.str("status", true)
	ob.Code = o.concept("code")
	ob.Subject = o.subject()
	ob.EffectiveDateTime = DateTime(o.str("effectiveDateTime", false))
	o.child("valueQuantity", true, func(c *object) {
		ob.ValueQuantity = Quantity{Value: c.decimal("value", true), Unit: c.str("unit", false), System: c.str("system", false), Code: c.str("code", false)}
	})
	return ob
}

// syntaxCheck reports why data is not exactly one JSON value, with the byte
// offset, or nil.
func syntaxCheck(data []byte) *fieldError {
	if json.Valid(data) {
		return nil
	}
	var v json.RawMessage
	err := json.Unmarshal(data, &v)
	if se, ok := err.(*json.SyntaxError); ok {
		return ferr("", ErrSyntax, "invalid JSON at byte %d: %v", se.Offset, se)
	}
	if err == nil || err == io.ErrUnexpectedEOF {
		return ferr("", ErrSyntax, "invalid JSON: unexpected end of input")
	}
	return ferr("", ErrSyntax, "invalid JSON: %v", err)
}
