package fhir

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Limits bound what a reader accepts. A zero field takes its default.
type Limits struct {
	MaxFileBytes int64 // whole file or stream; default 1 GiB
	MaxLineBytes int   // one NDJSON line; default 1 MiB
	MaxResources int   // resources per file or stream; default 5,000,000
}

// Default limits.
const (
	DefaultMaxFileBytes = 1 << 30
	DefaultMaxLineBytes = 1 << 20
	DefaultMaxResources = 5_000_000
)

func (l Limits) withDefaults() Limits {
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = DefaultMaxFileBytes
	}
	if l.MaxLineBytes <= 0 {
		l.MaxLineBytes = DefaultMaxLineBytes
	}
	if l.MaxResources <= 0 {
		l.MaxResources = DefaultMaxResources
	}
	return l
}

// Position is where a resource was read.
type Position struct {
	File  string
	Line  int // 1-based
	Entry int // 0-based Bundle entry index, or -1 for NDJSON
}

// Set is the resources read from one or more files, each valid on its own,
// in the order read. Ids are unique per resource type within a Set.
// References are not resolved yet: NewCohort does that.
type Set struct {
	Patients     []*Patient
	Encounters   []*Encounter
	Conditions   []*Condition
	Observations []*Observation

	pos map[string]Position // "Type/id" → where it was read
}

// Len is the number of resources.
func (s *Set) Len() int {
	return len(s.Patients) + len(s.Encounters) + len(s.Conditions) + len(s.Observations)
}

// Position returns where the resource "Type/id" was read.
func (s *Set) Position(typeAndID string) (Position, bool) {
	p, ok := s.pos[typeAndID]
	return p, ok
}

func (s *Set) add(r Resource, p Position) *Error {
	if s.pos == nil {
		s.pos = map[string]Position{}
	}
	key := r.ResourceType() + "/" + r.ResourceID()
	if prev, dup := s.pos[key]; dup {
		return &Error{File: p.File, Line: p.Line, Entry: p.Entry, Resource: key, Field: "id", Kind: ErrDuplicate,
			Msg: "the same resource type and id was already read at " + prev.String()}
	}
	s.pos[key] = p
	switch r := r.(type) {
	case *Patient:
		s.Patients = append(s.Patients, r)
	case *Encounter:
		s.Encounters = append(s.Encounters, r)
	case *Condition:
		s.Conditions = append(s.Conditions, r)
	case *Observation:
		s.Observations = append(s.Observations, r)
	}
	return nil
}

// Merge adds the resources of other to s; a type and id read twice is an
// ErrDuplicate error naming both places.
func (s *Set) Merge(other *Set) error {
	for _, rs := range [][]Resource{resources(other.Patients), resources(other.Encounters), resources(other.Conditions), resources(other.Observations)} {
		for _, r := range rs {
			if err := s.add(r, other.pos[r.ResourceType()+"/"+r.ResourceID()]); err != nil {
				return err
			}
		}
	}
	return nil
}

func resources[T Resource](rs []T) []Resource {
	out := make([]Resource, len(rs))
	for i, r := range rs {
		out[i] = r
	}
	return out
}

func (p Position) String() string {
	var parts []string
	if p.File != "" {
		parts = append(parts, p.File)
	}
	if p.Line > 0 {
		parts = append(parts, fmt.Sprintf("line %d", p.Line))
	}
	if p.Entry >= 0 {
		parts = append(parts, fmt.Sprintf("entry %d", p.Entry))
	}
	if len(parts) == 0 {
		return "an earlier position"
	}
	return strings.Join(parts, " ")
}

// countingReader fails once more than max bytes were read.
type countingReader struct {
	r   io.Reader
	n   int64
	max int64
}

var errFileTooLarge = errors.New("file too large")

func (c *countingReader) Read(p []byte) (int, error) {
	if c.n > c.max {
		return 0, errFileTooLarge
	}
	if rem := c.max + 1 - c.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		return n, errFileTooLarge
	}
	return n, err
}

// ReadNDJSON reads newline-delimited JSON: one resource per line; blank lines
// are skipped; a final newline is optional; "\r\n" line ends are accepted.
// Errors are *Error with the 1-based line.
func ReadNDJSON(r io.Reader, lim Limits) (*Set, error) {
	return readNDJSON(r, lim.withDefaults(), "")
}

func readNDJSON(r io.Reader, lim Limits, file string) (*Set, error) {
	cr := &countingReader{r: r, max: lim.MaxFileBytes}
	sc := bufio.NewScanner(cr)
	sc.Buffer(make([]byte, 0, min(64<<10, lim.MaxLineBytes+1)), lim.MaxLineBytes+1)
	s := &Set{pos: map[string]Position{}}
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(b) > lim.MaxLineBytes {
			return nil, &Error{File: file, Line: line, Entry: -1, Kind: ErrTooLarge, Msg: fmt.Sprintf("line longer than %d bytes", lim.MaxLineBytes)}
		}
		if cr.n > cr.max {
			break // the scanner hands over a cut line before the error: report the size
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		if err := checkUTF8(b); err != nil {
			return nil, at(err, file, line, -1, "")
		}
		if fe := syntaxCheck(b); fe != nil {
			return nil, at(fe, file, line, -1, "")
		}
		res, name, fe := decodeResource(b)
		if fe != nil {
			return nil, at(fe, file, line, -1, name)
		}
		if s.Len() >= lim.MaxResources {
			return nil, &Error{File: file, Line: line, Entry: -1, Kind: ErrTooLarge, Msg: fmt.Sprintf("more than %d resources", lim.MaxResources)}
		}
		if err := s.add(res, Position{File: file, Line: line, Entry: -1}); err != nil {
			return nil, err
		}
	}
	err := sc.Err()
	if cr.n > cr.max {
		err = errFileTooLarge
	}
	if err != nil {
		switch {
		case errors.Is(err, errFileTooLarge):
			return nil, &Error{File: file, Entry: -1, Kind: ErrTooLarge, Msg: fmt.Sprintf("more than %d bytes", lim.MaxFileBytes)}
		case errors.Is(err, bufio.ErrTooLong):
			return nil, &Error{File: file, Line: line + 1, Entry: -1, Kind: ErrTooLarge, Msg: fmt.Sprintf("line longer than %d bytes", lim.MaxLineBytes)}
		}
		return nil, &Error{File: file, Line: line + 1, Entry: -1, Kind: ErrSyntax, Msg: "read: " + err.Error()}
	}
	return s, nil
}

func checkUTF8(b []byte) *fieldError {
	if utf8.Valid(b) {
		return nil
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return ferr("", ErrSyntax, "invalid UTF-8 at byte %d", i)
		}
		i += n
	}
	return ferr("", ErrSyntax, "invalid UTF-8")
}

// ReadBundle reads one FHIR Bundle (type collection, transaction, batch or
// searchset) and its entries' resources. Errors are *Error with the entry
// index and the line where that entry starts.
func ReadBundle(r io.Reader, lim Limits) (*Set, error) {
	return readBundle(r, lim.withDefaults(), "")
}

var bundleTypes = set("collection", "transaction", "batch", "searchset")

func readBundle(r io.Reader, lim Limits, file string) (*Set, error) {
	data, err := io.ReadAll(&countingReader{r: r, max: lim.MaxFileBytes})
	if err != nil {
		if errors.Is(err, errFileTooLarge) {
			return nil, &Error{File: file, Entry: -1, Kind: ErrTooLarge, Msg: fmt.Sprintf("more than %d bytes", lim.MaxFileBytes)}
		}
		return nil, &Error{File: file, Entry: -1, Kind: ErrSyntax, Msg: "read: " + err.Error()}
	}
	lines := lineCounter{data: data}
	bad := func(fe *fieldError, off int64, entry int, name string) error {
		line := 0
		if off >= 0 {
			line = lines.at(off)
		}
		return at(fe, file, line, entry, name)
	}
	if fe := checkUTF8(data); fe != nil {
		return nil, bad(fe, -1, -1, "")
	}
	if fe := syntaxCheck(data); fe != nil {
		var se *json.SyntaxError
		var v json.RawMessage
		if errors.As(json.Unmarshal(data, &v), &se) {
			return nil, bad(fe, se.Offset, -1, "")
		}
		return nil, bad(fe, -1, -1, "")
	}
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		return nil, bad(ferr("", ErrInvalid, "a Bundle must be a JSON object"), -1, -1, "")
	}
	// Say first when this is not a Bundle at all (a single resource, say).
	var head struct {
		ResourceType any `json:"resourceType"`
	}
	_ = json.Unmarshal(data, &head)
	if rt, _ := head.ResourceType.(string); rt != "Bundle" {
		if head.ResourceType == nil {
			return nil, bad(ferr("resourceType", ErrResourceType, "missing; want \"Bundle\""), -1, -1, "")
		}
		return nil, bad(ferr("resourceType", ErrResourceType, "resourceType %.64q where a Bundle was expected (read single resources as NDJSON)", fmt.Sprint(head.ResourceType)), -1, -1, "")
	}
	// Walk the top level by tokens so that each entry's offset is known.
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	_, _ = dec.Token() // '{', checked above
	s := &Set{pos: map[string]Position{}}
	seen := map[string]bool{}
	var rt, typ string
	for dec.More() {
		off := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, bad(ferr("", ErrSyntax, "%v", err), off, -1, "")
		}
		key, _ := tok.(string)
		if seen[key] {
			return nil, bad(ferr(key, ErrDuplicate, "key %q appears twice", key), off, -1, "")
		}
		seen[key] = true
		if key != "entry" {
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil, bad(ferr(key, ErrSyntax, "%v", err), off, -1, "")
			}
			o := &object{keys: []string{key}, vals: [][]byte{v}, used: []bool{false}}
			switch key {
			case "resourceType":
				rt = o.str(key, true)
			case "type":
				typ = o.str(key, true)
			case "id":
				if id := o.str(key, true); o.err == nil && !isID(id) {
					o.fail(key, ErrInvalid, "id %q must be 1 to 64 of A-Z a-z 0-9 . -", id)
				}
			case "timestamp":
				if ts := DateTime(o.str(key, true)); o.err == nil {
					if _, err := ts.Instant(); err != nil {
						o.fail(key, ErrInvalid, "%v", err)
					}
				}
			case "total":
				if kindOf(v) != "a number" {
					o.fail(key, ErrInvalid, "want a number, got %s", kindOf(v))
				}
			case "meta", "link":
				// Envelope metadata: no clinical content; ignored.
			default:
				o.fail(key, ErrUnknownField, "unknown Bundle field %q", key)
			}
			if o.err != nil {
				return nil, bad(o.err, off, -1, "")
			}
			continue
		}
		if err := readEntries(dec, data, &lines, lim, file, s); err != nil {
			return nil, err
		}
	}
	switch {
	case rt == "":
		return nil, bad(ferr("resourceType", ErrResourceType, "missing; want \"Bundle\""), -1, -1, "")
	case rt != "Bundle":
		return nil, bad(ferr("resourceType", ErrResourceType, "resourceType %.64q where a Bundle was expected (read single resources as NDJSON)", rt), -1, -1, "")
	case typ == "":
		return nil, bad(ferr("type", ErrMissing, "a Bundle needs a type"), -1, -1, "")
	case !bundleTypes[typ]:
		return nil, bad(ferr("type", ErrInvalid, "Bundle type %.64q is not supported (want collection, transaction, batch or searchset)", typ), -1, -1, "")
	}
	return s, nil
}

func readEntries(dec *json.Decoder, data []byte, lines *lineCounter, lim Limits, file string, s *Set) error {
	off := dec.InputOffset()
	tok, err := dec.Token()
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '[' {
		return at(ferr("entry", ErrInvalid, "want an array of entries"), file, lines.at(off), -1, "")
	}
	for i := 0; dec.More(); i++ {
		start := skipSpaceComma(data, dec.InputOffset())
		line := lines.at(start)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return at(ferr("", ErrSyntax, "%v", err), file, line, i, "")
		}
		if i >= lim.MaxResources {
			return &Error{File: file, Line: line, Entry: i, Kind: ErrTooLarge, Msg: fmt.Sprintf("more than %d resources", lim.MaxResources)}
		}
		res, name, fe := decodeEntry(raw)
		if fe != nil {
			return at(fe, file, line, i, name)
		}
		if err := s.add(res, Position{File: file, Line: line, Entry: i}); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // ']'
		return at(ferr("entry", ErrSyntax, "%v", err), file, 0, -1, "")
	}
	return nil
}

// decodeEntry decodes one Bundle entry: {fullUrl?, resource, request?, search?}.
func decodeEntry(raw []byte) (Resource, string, *fieldError) {
	o, fe := parseObject(raw, "")
	if fe != nil {
		return nil, "", fe
	}
	o.str("fullUrl", false)
	o.child("request", false, func(c *object) {
		m := c.str("method", true)
		c.str("url", true)
		if c.err == nil && m != "POST" && m != "PUT" {
			c.fail("method", ErrInvalid, "request method %.16q: an import entry is POST or PUT", m)
		}
	})
	o.child("search", false, func(c *object) {
		c.str("mode", false)
		c.decimal("score", false)
	})
	res := o.get("resource", true)
	if fe := o.finish(); fe != nil {
		return nil, "", fe
	}
	r, name, fe := decodeResource(res)
	if fe != nil {
		if fe.field == "" {
			fe.field = "resource"
		} else {
			fe.field = "resource." + fe.field
		}
		return nil, name, fe
	}
	return r, name, nil
}

func skipSpaceComma(data []byte, off int64) int64 {
	for off < int64(len(data)) {
		switch data[off] {
		case ' ', '\t', '\r', '\n', ',':
			off++
			continue
		}
		break
	}
	return off
}

// lineCounter maps increasing byte offsets to 1-based line numbers in
// amortised linear time.
type lineCounter struct {
	data []byte
	off  int64
	line int
}

func (l *lineCounter) at(off int64) int {
	if off > int64(len(l.data)) {
		off = int64(len(l.data))
	}
	if off < l.off {
		l.off, l.line = 0, 0
	}
	l.line += bytes.Count(l.data[l.off:off], []byte{'\n'})
	l.off = off
	return l.line + 1
}

// ReadFile reads path as NDJSON (.ndjson) or a Bundle (.json), within lim;
// errors name the file.
func ReadFile(path string, lim Limits) (*Set, error) {
	lim = lim.withDefaults()
	var read func(io.Reader, Limits, string) (*Set, error)
	switch strings.ToLower(filepath.Ext(path)) {
	case ".ndjson":
		read = readNDJSON
	case ".json":
		read = readBundle
	default:
		return nil, &Error{File: path, Entry: -1, Kind: ErrInvalid, Msg: "unknown file type: want .ndjson (one resource per line) or .json (a Bundle)"}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > lim.MaxFileBytes {
		return nil, &Error{File: path, Entry: -1, Kind: ErrTooLarge, Msg: fmt.Sprintf("%d bytes, more than the limit of %d", st.Size(), lim.MaxFileBytes)}
	}
	return read(f, lim, path)
}
