package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var (
	hexA = strings.Repeat("a", 64)
	hexB = strings.Repeat("b", 64)
)

func goodRecordLine() spoolLine {
	return spoolLine{V: 1, Record: &RecordEntry{
		RecordID: hexA, Pseudonym: hexB, ResourceTypes: []string{"Observation"}, Date: 20240101,
		ContentHash: make([]byte, 32), Size: 100, SealedKeyPatient: make([]byte, 80), SealedKeyCustodian: make([]byte, 80),
	}}
}

func jsonLine(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeSpoolLine(t *testing.T) {
	header := jsonLine(t, spoolLine{V: 1, Header: &Header{Hospital: "h0", CustodianSealPubkey: make([]byte, 32), Identity: DefaultIdentity}})
	patient := jsonLine(t, spoolLine{V: 1, Patient: &PatientEntry{Pseudonym: hexB, Pubkey: make([]byte, 32), SealPubkey: make([]byte, 32), Consent: "opt-in"}})
	record := jsonLine(t, goodRecordLine())
	end := []byte(`{"v":1,"end":{"patients":1,"records":1}}`)
	cases := []struct {
		name    string
		line    []byte
		errSays string
	}{
		{"a header is accepted", header, ""},
		{"a patient is accepted", patient, ""},
		{"a record is accepted", record, ""},
		{"an end line is accepted", end, ""},
		{"an unknown field is refused", bytes.Replace(record, []byte(`"size"`), []byte(`"plaintext":"x","size"`), 1), "unknown field"},
		{"two kinds on one line are refused", []byte(`{"v":1,"end":{"patients":0,"records":0},"header":{"hospital":"h0"}}`), "exactly one"},
		{"no kind is refused", []byte(`{"v":1}`), "exactly one"},
		{"another version is refused", bytes.Replace(end, []byte(`"v":1`), []byte(`"v":2`), 1), "version 2"},
		{"an uppercase record id is refused", bytes.Replace(record, []byte(hexA), []byte(strings.ToUpper(hexA)), 1), "record_id"},
		{"a type that is not a record type is refused", bytes.Replace(record, []byte(`"Observation"`), []byte(`"Patient"`), 1), "resource_types"},
		{"a short sealed key is refused", jsonLine(t, func() spoolLine { l := goodRecordLine(); l.Record.SealedKeyPatient = make([]byte, 79); return l }()), "sealed key"},
		{"an impossible date is refused", jsonLine(t, func() spoolLine { l := goodRecordLine(); l.Record.Date = 20241301; return l }()), "date"},
		{"an unknown consent is refused", bytes.Replace(patient, []byte(`"opt-in"`), []byte(`"maybe"`), 1), "consent"},
		{"a bad hospital id is refused", bytes.Replace(header, []byte(`"h0"`), []byte(`"H 0"`), 1), "hospital"},
		{"trailing data is refused", append(append([]byte{}, end...), []byte(` {}`)...), "trailing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeSpoolLine(c.line)
			if c.errSays == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.errSays) {
				t.Fatalf("err = %v, want it to say %q", err, c.errSays)
			}
		})
	}
}

func TestDecodePushedLine(t *testing.T) {
	cases := []struct {
		name string
		line string
		ok   bool
	}{
		{"a committed patient is accepted", `{"v":1,"patient":"` + hexB + `","height":5}`, true},
		{"a committed record is accepted", `{"v":1,"record":"` + hexA + `","height":5}`, true},
		{"a line naming both is refused", `{"v":1,"patient":"` + hexB + `","record":"` + hexA + `","height":5}`, false},
		{"a height of zero is refused", `{"v":1,"record":"` + hexA + `","height":0}`, false},
		{"a short id is refused", `{"v":1,"record":"abc","height":3}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodePushedLine([]byte(c.line))
			if (err == nil) != c.ok {
				t.Fatalf("err = %v, want ok=%v", err, c.ok)
			}
		})
	}
}

func writeSpool(t *testing.T, dir string, content string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, SpoolFile), []byte(content), perm); err != nil {
		t.Fatal(err)
	}
}

func TestOpenSpool(t *testing.T) {
	header := string(jsonLine(t, spoolLine{V: 1, Header: &Header{Hospital: "h0", CustodianSealPubkey: make([]byte, 32), Identity: DefaultIdentity}})) + "\n"
	patient := string(jsonLine(t, spoolLine{V: 1, Patient: &PatientEntry{Pseudonym: hexB, Pubkey: make([]byte, 32), SealPubkey: make([]byte, 32)}})) + "\n"
	record := string(jsonLine(t, goodRecordLine())) + "\n"
	end := `{"v":1,"end":{"patients":1,"records":1}}` + "\n"
	cases := []struct {
		name     string
		content  string
		perm     os.FileMode
		ended    bool
		records  int
		size     int
		errSays  string
		errIsSpl bool
	}{
		{"a finished read run is ended", header + patient + record + end, 0o600, true, 1, len(header + patient + record + end), "", false},
		{"a torn last line is dropped and cut off", header + patient + record + end[:10], 0o600, false, 1, len(header + patient + record), "", false},
		{"a damaged line in the middle is an error naming it", header + "{garbage}\n" + patient, 0o600, false, 0, 0, "line 2 is damaged", true},
		{"a record before its patient is an error", header + record + patient, 0o600, false, 0, 0, "before its patient", true},
		{"a header after the first line is an error", header + patient + header, 0o600, false, 0, 0, "header must be the first", true},
		{"a spool others may read is refused", header, 0o644, false, 0, 0, "chmod 600", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "spool")
			writeSpool(t, dir, c.content, c.perm)
			sp, err := openSpool(dir, false)
			if c.errSays != "" {
				if err == nil || !strings.Contains(err.Error(), c.errSays) || !errors.Is(err, ErrSpool) {
					t.Fatalf("err = %v, want ErrSpool saying %q", err, c.errSays)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer sp.close()
			if sp.ended != c.ended || len(sp.records) != c.records || sp.size != int64(c.size) {
				t.Fatalf("ended %v records %d size %d; want %v %d %d", sp.ended, len(sp.records), sp.size, c.ended, c.records, c.size)
			}
			// Appending cuts the torn end first.
			a, err := openAppender(sp.path(SpoolFile), sp.size)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Add(spoolLine{V: 1, End: &EndEntry{Patients: 1, Records: 1}}); err != nil {
				t.Fatal(err)
			}
			if err := a.Sync(); err != nil {
				t.Fatal(err)
			}
			a.Close()
			raw, _ := os.ReadFile(sp.path(SpoolFile))
			if want := c.content[:c.size] + end; string(raw) != want {
				t.Fatalf("after an append the file is\n%s\nwant\n%s", raw, want)
			}
		})
	}
}

func TestASpoolIsLockedByOneRelay(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	if _, err := openSpool(dir, false); err == nil || !strings.Contains(err.Error(), "run the read phase first") {
		t.Fatalf("opening a missing spool to push: err = %v", err)
	}
	sp, err := openSpool(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openSpool(dir, true); err == nil || !strings.Contains(err.Error(), "another `medchain ingest`") {
		t.Fatalf("a second open: err = %v, want the lock refusal", err)
	}
	sp.close()
	again, err := openSpool(dir, false)
	if err != nil {
		t.Fatalf("after close: %v", err)
	}
	again.close()
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("spool folder mode %v, %v; want 0700", fi.Mode().Perm(), err)
	}
}

// FuzzDecodeSpoolLine: decodeSpoolLine never panics; what it accepts
// re-encodes to a line it accepts again with the same content.
func FuzzDecodeSpoolLine(f *testing.F) {
	f.Add(jsonLine(f, goodRecordLine()))
	f.Add(jsonLine(f, spoolLine{V: 1, Header: &Header{Hospital: "h0", CustodianSealPubkey: make([]byte, 32), Identity: DefaultIdentity}}))
	f.Add(jsonLine(f, spoolLine{V: 1, Patient: &PatientEntry{Pseudonym: hexB, Pubkey: make([]byte, 32), SealPubkey: make([]byte, 32)}}))
	f.Add([]byte(`{"v":1,"end":{"patients":1,"records":1}}`))
	f.Add([]byte(`{"v":1,"end":{"patients":-1,"records":1}}`))
	f.Add([]byte(`{"v":1,"record":{"record_id":null}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeSpoolLine(b)
		if err != nil {
			return
		}
		again, err := decodeSpoolLine(jsonLine(t, l))
		if err != nil {
			t.Fatalf("an accepted line does not survive a re-encoding: %v", err)
		}
		if !bytes.Equal(jsonLine(t, again), jsonLine(t, l)) {
			t.Fatalf("re-decoded line differs")
		}
	})
}

// FuzzDecodePushedLine: decodePushedLine never panics; what it accepts names
// exactly one valid item at a positive height.
func FuzzDecodePushedLine(f *testing.F) {
	f.Add([]byte(`{"v":1,"patient":"` + hexB + `","height":5}`))
	f.Add([]byte(`{"v":1,"record":"` + hexA + `","height":5}`))
	f.Add([]byte(`{"v":1,"record":"","patient":"","height":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodePushedLine(b)
		if err != nil {
			return
		}
		if (l.Patient == "") == (l.Record == "") || l.Height < 1 || len(l.Patient+l.Record) != 64 {
			t.Fatalf("accepted %+v", l)
		}
	})
}

// FuzzReadSpoolFile: opening a spool whatever its bytes never panics, and a
// spool it opens has a header first and records after their patients.
func FuzzReadSpoolFile(f *testing.F) {
	header := string(jsonLine(f, spoolLine{V: 1, Header: &Header{Hospital: "h0", CustodianSealPubkey: make([]byte, 32), Identity: DefaultIdentity}})) + "\n"
	patient := string(jsonLine(f, spoolLine{V: 1, Patient: &PatientEntry{Pseudonym: hexB, Pubkey: make([]byte, 32), SealPubkey: make([]byte, 32)}})) + "\n"
	f.Add([]byte(header + patient + string(jsonLine(f, goodRecordLine())) + "\n"))
	f.Add([]byte(header + patient[:20]))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, SpoolFile), b, 0o600); err != nil {
			t.Fatal(err)
		}
		sp, err := openSpool(dir, false)
		if err != nil {
			return
		}
		defer sp.close()
		if len(sp.records) > 0 && (sp.header == nil || len(sp.patients) == 0) {
			t.Fatal("records without a header or patient")
		}
		for _, r := range sp.records {
			if sp.patients[r.Pseudonym] == nil {
				t.Fatal("a record whose patient is not in the spool")
			}
		}
	})
}
