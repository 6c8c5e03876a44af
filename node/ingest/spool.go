package ingest

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"github.com/medchain/medchain/contracts/records"
	"github.com/medchain/medchain/node/internal/strictjson"
	"github.com/medchain/medchain/node/recordcrypto"
)

// The spool is a folder (0700) of two append-only JSON Lines files (0600):
//
//	spool.jsonl   written by the read phase: one header line, then patient and
//	              record entries, then an end line each time a read run
//	              finished; a later read run appends more entries and a new
//	              end line. The push phase refuses a spool whose last line is
//	              not an end line (a read run crashed: run the read phase again).
//	pushed.jsonl  written by the push phase: one line per committed patient
//	              or record.
//
// Every line is {"v":1,"<kind>":{…}} with exactly one kind. Lines are written
// whole and fsync'd before the work they record is counted as done; a last
// line without its newline is a write a crash interrupted, dropped (and cut
// off the file) when the spool is opened. Any other undecodable line is
// ErrSpool. The spool holds no plaintext and no identity field: pseudonyms,
// record ids, public keys, sealed keys, hashes, sizes, types and dates.

// Spool file names.
const (
	SpoolFile  = "spool.jsonl"
	PushedFile = "pushed.jsonl"
	lockFile   = "lock"

	spoolVersion = 1
	// maxLineBytes bounds a spool line (a record entry is about 500 bytes).
	maxLineBytes = 64 << 10
)

// ErrSpool wraps every refusal of a spool file's content.
var ErrSpool = errors.New("ingest: spool")

// Header is the first line of spool.jsonl: what every entry after it was made
// for. A read run with another hospital, custodian key or identity fields is
// refused rather than mixing two pseudonym schemes in one spool.
type Header struct {
	Hospital            string   `json:"hospital"`
	CustodianSealPubkey []byte   `json:"custodian_seal_pubkey"`
	Identity            []string `json:"identity"`
}

// PatientEntry is a pseudonym seen at this hospital and the keys of the
// patient identity made for it in the patient keyring.
type PatientEntry struct {
	Pseudonym  string `json:"pseudonym"`
	Pubkey     []byte `json:"pubkey"`
	SealPubkey []byte `json:"seal_pubkey"`
	Consent    string `json:"consent"` // "opt-in", "opt-out" or "" (none)
}

// RecordEntry is a record in the vault, ready to register: the fields of
// record.register with the data key sealed to the custodian (the very bytes
// the vault holds) and to the patient's SealPubkey of its PatientEntry.
type RecordEntry struct {
	RecordID           string   `json:"record_id"`
	Pseudonym          string   `json:"pseudonym"`
	ResourceTypes      []string `json:"resource_types"`
	Date               uint32   `json:"date"`
	ContentHash        []byte   `json:"content_hash"`
	Size               uint64   `json:"size"`
	SealedKeyPatient   []byte   `json:"sealed_key_patient"`
	SealedKeyCustodian []byte   `json:"sealed_key_custodian"`
}

// EndEntry closes a finished read run: the totals of the spool so far.
type EndEntry struct {
	Patients int `json:"patients"`
	Records  int `json:"records"`
}

// spoolLine is one line of spool.jsonl.
type spoolLine struct {
	V       int           `json:"v"`
	Header  *Header       `json:"header,omitempty"`
	Patient *PatientEntry `json:"patient,omitempty"`
	Record  *RecordEntry  `json:"record,omitempty"`
	End     *EndEntry     `json:"end,omitempty"`
}

// pushedLine is one line of pushed.jsonl: a patient (pseudonym) or a record
// (id) found committed at height.
type pushedLine struct {
	V       int    `json:"v"`
	Patient string `json:"patient,omitempty"`
	Record  string `json:"record,omitempty"`
	Height  int64  `json:"height"`
}

var hospitalIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// decodeSpoolLine parses and checks one line of spool.jsonl. It never panics.
func decodeSpoolLine(b []byte) (*spoolLine, error) {
	var l spoolLine
	if err := strictjson.Decode(b, &l); err != nil {
		return nil, err
	}
	if l.V != spoolVersion {
		return nil, fmt.Errorf("version %d, this medchain reads version %d", l.V, spoolVersion)
	}
	n := 0
	for _, set := range []bool{l.Header != nil, l.Patient != nil, l.Record != nil, l.End != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("a line holds exactly one of header, patient, record, end")
	}
	switch {
	case l.Header != nil:
		return &l, l.Header.validate()
	case l.Patient != nil:
		return &l, l.Patient.validate()
	case l.Record != nil:
		return &l, l.Record.validate()
	}
	if l.End.Patients < 0 || l.End.Records < 0 {
		return nil, errors.New("end: negative totals")
	}
	return &l, nil
}

func (h *Header) validate() error {
	if !hospitalIDPattern.MatchString(h.Hospital) {
		return fmt.Errorf("header: hospital %.40q is not a hospital id", h.Hospital)
	}
	if len(h.CustodianSealPubkey) != recordcrypto.PublicKeySize {
		return fmt.Errorf("header: custodian_seal_pubkey is %d bytes, want %d", len(h.CustodianSealPubkey), recordcrypto.PublicKeySize)
	}
	if err := checkIdentity(h.Identity); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	return nil
}

func (p *PatientEntry) validate() error {
	if _, err := records.ParseID("pseudonym", p.Pseudonym); err != nil {
		return fmt.Errorf("patient: %w", err)
	}
	if len(p.Pubkey) != ed25519.PublicKeySize {
		return fmt.Errorf("patient: pubkey is %d bytes, want %d", len(p.Pubkey), ed25519.PublicKeySize)
	}
	if len(p.SealPubkey) != recordcrypto.PublicKeySize {
		return fmt.Errorf("patient: seal_pubkey is %d bytes, want %d", len(p.SealPubkey), recordcrypto.PublicKeySize)
	}
	if _, err := parseConsent(p.Consent); err != nil {
		return fmt.Errorf("patient: %w", err)
	}
	return nil
}

func (r *RecordEntry) validate() error {
	if _, err := records.ParseID("record_id", r.RecordID); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	if _, err := records.ParseID("pseudonym", r.Pseudonym); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	if len(r.ResourceTypes) != 1 || !recordTypes[r.ResourceTypes[0]] {
		return fmt.Errorf("record: resource_types %.80q: want one of Encounter, Condition, Observation", r.ResourceTypes)
	}
	if y, m, d := r.Date/10000, r.Date/100%100, r.Date%100; y < 1900 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31 {
		return fmt.Errorf("record: date %d is not YYYYMMDD", r.Date)
	}
	if len(r.ContentHash) != 32 {
		return fmt.Errorf("record: content_hash is %d bytes, want 32", len(r.ContentHash))
	}
	if r.Size < recordcrypto.RecordOverhead || r.Size > records.MaxRecordSize {
		return fmt.Errorf("record: size %d is not a ciphertext size", r.Size)
	}
	if len(r.SealedKeyPatient) != recordcrypto.SealedKeySize || len(r.SealedKeyCustodian) != recordcrypto.SealedKeySize {
		return fmt.Errorf("record: a sealed key is not %d bytes", recordcrypto.SealedKeySize)
	}
	return nil
}

// recordTypes are the resource types that become records.
var recordTypes = map[string]bool{"Encounter": true, "Condition": true, "Observation": true}

// decodePushedLine parses and checks one line of pushed.jsonl. It never panics.
func decodePushedLine(b []byte) (*pushedLine, error) {
	var l pushedLine
	if err := strictjson.Decode(b, &l); err != nil {
		return nil, err
	}
	if l.V != spoolVersion {
		return nil, fmt.Errorf("version %d, this medchain reads version %d", l.V, spoolVersion)
	}
	if (l.Patient == "") == (l.Record == "") {
		return nil, errors.New("a line names exactly one of patient, record")
	}
	if l.Height < 1 {
		return nil, fmt.Errorf("height %d", l.Height)
	}
	if l.Patient != "" {
		if _, err := records.ParseID("pseudonym", l.Patient); err != nil {
			return nil, err
		}
	} else if _, err := records.ParseID("record_id", l.Record); err != nil {
		return nil, err
	}
	return &l, nil
}

// readLines calls fn for each complete line of the file at path and returns
// the byte length of the complete lines: a last line without its newline is a
// torn write and is left out. A missing file has no lines. A line fn refuses
// is an ErrSpool error naming the file and line.
func readLines(path string, fn func(line []byte) error) (int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrSpool, err)
	}
	defer f.Close()
	if err := checkPrivate(f, path); err != nil {
		return 0, err
	}
	r := bufio.NewReaderSize(f, 64<<10)
	var good int64
	for n := 1; ; n++ {
		line, err := readLine(r)
		if errors.Is(err, io.EOF) {
			return good, nil // a partial last line (if any) is a torn write
		}
		if err != nil {
			return 0, fmt.Errorf("%w: %s line %d: %v", ErrSpool, path, n, err)
		}
		if err := fn(line[:len(line)-1]); err != nil {
			return 0, fmt.Errorf("%w: %s line %d is damaged: %v (move the spool away and run the read phase again: the vault keeps what was encrypted)",
				ErrSpool, path, n, err)
		}
		good += int64(len(line))
	}
}

// readLine returns the next line with its "\n", io.EOF at the end or before
// an unterminated last line, and an error for a line over maxLineBytes.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxLineBytes {
			return nil, fmt.Errorf("line longer than %d bytes", maxLineBytes)
		}
		switch {
		case err == nil:
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return nil, io.EOF
		default:
			return nil, err
		}
	}
}

// checkPrivate refuses a spool file others may read or write.
func checkPrivate(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSpool, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", ErrSpool, path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %04o; the spool is private to its owner: run chmod 600 %s", ErrSpool, path, fi.Mode().Perm(), path)
	}
	return nil
}

// appender appends whole lines to a spool file; Sync makes them durable.
type appender struct {
	f    *os.File
	path string
	buf  bytes.Buffer
}

// openAppender opens path for appending after cutting it to size (dropping a
// torn last line), creating it (0600) if needed.
func openAppender(path string, size int64) (*appender, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSpool, err)
	}
	if err := checkPrivate(f, path); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: cut the torn end of %s: %v", ErrSpool, path, err)
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %v", ErrSpool, err)
	}
	return &appender{f: f, path: path}, nil
}

// Add queues one line; nothing reaches the file before Sync.
func (a *appender) Add(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: encode a line of %s: %v", ErrSpool, a.path, err)
	}
	a.buf.Write(b)
	a.buf.WriteByte('\n')
	return nil
}

// Sync writes the queued lines and fsyncs the file.
func (a *appender) Sync() error {
	if a.buf.Len() > 0 {
		if _, err := a.f.Write(a.buf.Bytes()); err != nil {
			return fmt.Errorf("%w: write %s: %v", ErrSpool, a.path, err)
		}
		a.buf.Reset()
	}
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("%w: fsync %s: %v", ErrSpool, a.path, err)
	}
	return nil
}

func (a *appender) Close() error { return a.f.Close() }

// spool is an open, locked spool folder with what its files hold.
type spool struct {
	dir    string
	unlock func()

	header   *Header
	patients map[string]*PatientEntry // by pseudonym
	order    []string                 // pseudonyms in spool order
	records  map[string]*RecordEntry  // by record id
	byOwner  map[string][]*RecordEntry
	ended    bool // the last line is an end line
	size     int64

	pushed     map[string]int64 // patientItem and recordItem keys → height
	pushedSize int64
}

// openSpool locks dir and reads both files; with create it makes dir
// (0700) if needed, without it a missing dir is an error. Another process
// holding the lock is an error: two relays must not share a spool.
func openSpool(dir string, create bool) (*spool, error) {
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("%w: create %s: %v", ErrSpool, dir, err)
		}
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: there is no spool at %s: run the read phase first (medchain ingest --phase read), or give its --spool", ErrSpool, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSpool, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; the spool is private to its owner: run chmod 700 %s", ErrSpool, dir, fi.Mode().Perm(), dir)
	}
	unlock, err := lockDir(filepath.Join(dir, lockFile))
	if err != nil {
		return nil, err
	}
	s := &spool{dir: dir, unlock: unlock, patients: map[string]*PatientEntry{}, records: map[string]*RecordEntry{},
		byOwner: map[string][]*RecordEntry{}, pushed: map[string]int64{}}
	if err := s.load(); err != nil {
		unlock()
		return nil, err
	}
	return s, nil
}

func (s *spool) close() { s.unlock() }

func (s *spool) load() error {
	first := true
	size, err := readLines(filepath.Join(s.dir, SpoolFile), func(b []byte) error {
		l, err := decodeSpoolLine(b)
		if err != nil {
			return err
		}
		if first != (l.Header != nil) {
			return errors.New("the header must be the first line, and only the first")
		}
		first = false
		s.ended = l.End != nil
		switch {
		case l.Header != nil:
			s.header = l.Header
		case l.Patient != nil:
			if _, dup := s.patients[l.Patient.Pseudonym]; dup {
				return fmt.Errorf("patient %s appears twice", l.Patient.Pseudonym)
			}
			s.patients[l.Patient.Pseudonym] = l.Patient
			s.order = append(s.order, l.Patient.Pseudonym)
		case l.Record != nil:
			r := l.Record
			if _, dup := s.records[r.RecordID]; dup {
				return fmt.Errorf("record %s appears twice", r.RecordID)
			}
			if s.patients[r.Pseudonym] == nil {
				return fmt.Errorf("record %s comes before its patient %s", r.RecordID, r.Pseudonym)
			}
			s.records[r.RecordID] = r
			s.byOwner[r.Pseudonym] = append(s.byOwner[r.Pseudonym], r)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.size = size
	s.pushedSize, err = readLines(filepath.Join(s.dir, PushedFile), func(b []byte) error {
		l, err := decodePushedLine(b)
		if err != nil {
			return err
		}
		if l.Patient != "" {
			s.pushed[patientItem(l.Patient)] = l.Height
		} else {
			s.pushed[recordItem(l.Record)] = l.Height
		}
		return nil
	})
	return err
}

// patientItem and recordItem key the pushed map.
func patientItem(pseudonym string) string { return "p:" + pseudonym }
func recordItem(id string) string         { return "r:" + id }

func hexOf(id [32]byte) string { return hex.EncodeToString(id[:]) }

func (s *spool) path(name string) string { return filepath.Join(s.dir, name) }

func (s *spool) addPatient(p *PatientEntry) {
	s.patients[p.Pseudonym] = p
	s.order = append(s.order, p.Pseudonym)
}

func (s *spool) addRecord(r *RecordEntry) {
	s.records[r.RecordID] = r
	s.byOwner[r.Pseudonym] = append(s.byOwner[r.Pseudonym], r)
}
