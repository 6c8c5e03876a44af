package ingest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/medchain/medchain/node/cohort"
	"github.com/medchain/medchain/node/fhir"
	"github.com/medchain/medchain/node/recordcrypto"
	"github.com/medchain/medchain/node/vault"
)

// vaultFacts reads and decrypts a patient-facts entry with the home's seal
// key.
func vaultFacts(t testing.TB, home string, id [32]byte) (*cohort.PatientFacts, error) {
	t.Helper()
	v, err := openVault(context.Background(), home)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ct, sealed, err := v.Get(id[:])
	if err != nil {
		return nil, err
	}
	key, err := recordcrypto.OpenKey(sealed, id[:], homeSealKey(t, home))
	if err != nil {
		t.Fatalf("the patient facts' key does not open with the hospital's seal key: %v", err)
	}
	pt, err := recordcrypto.DecryptRecord(key, id[:], ct)
	if err != nil {
		t.Fatalf("the patient facts do not decrypt: %v", err)
	}
	f, err := cohort.DecodePatientFacts(pt)
	if err != nil {
		t.Fatalf("the patient facts do not decode: %v", err)
	}
	return f, nil
}

// TestPatientFactsGoIntoTheVaultOnly: the read phase keeps each patient's
// facts in the vault, encrypted to the custodian, and nowhere else; a rerun
// re-encrypts nothing; a changed Patient gets a new generation and nothing
// new goes on chain.
func TestPatientFactsGoIntoTheVaultOnly(t *testing.T) {
	ctx := context.Background()
	hs, c := newAlliance(t, 1)
	h := hs[0]
	dir, _ := writeCohort(t, 1, 6, 9)
	export := filepath.Join(dir, "hospital0")
	files, _ := filepath.Glob(filepath.Join(export, "*.ndjson"))
	fc, err := fhir.LoadCohort(fhir.Limits{}, files...)
	if err != nil {
		t.Fatal(err)
	}
	pepper := pepperOf(t, h)
	pseudonymOf := func(p *fhir.Patient) string {
		pid, err := fhir.Pseudonym(pepper, fhir.IdentityOf(p), DefaultIdentity)
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	o := options(h, export)
	r, p := ingest(t, ctx, o, c)

	t.Run("every patient's facts are in the vault and decrypt to its Patient", func(t *testing.T) {
		if r.FactsWritten != len(fc.Patients) || r.FactsUnchanged != 0 {
			t.Fatalf("read %+v, want %d patient facts written", r, len(fc.Patients))
		}
		for _, pr := range fc.Patients {
			pt := pr.Patient
			f, err := vaultFacts(t, h.home, cohort.FactsID(h.id, pseudonymOf(pt)))
			if err != nil {
				t.Fatalf("no patient facts in the vault: %v", err)
			}
			birth := strings.ReplaceAll(string(pt.BirthDate), "-", "")
			if !slices.Equal(f.LocalIDs, []string{pt.ID}) || f.Sex != pt.Gender || f.ResearchConsent != pt.ResearchConsent() ||
				f.Hospital != h.id || f.Generation != 0 || birth != strconv.FormatUint(uint64(f.BirthDate), 10) {
				t.Fatalf("facts %+v do not match the Patient", f)
			}
			if (pt.DeceasedDateTime == "") != (f.DeathDate == 0) {
				t.Fatalf("death date %d for deceasedDateTime %q", f.DeathDate, pt.DeceasedDateTime)
			}
		}
	})
	t.Run("the spool and the chain hold none of it", func(t *testing.T) {
		spool, err := os.ReadFile(filepath.Join(DefaultSpoolDir(h.home), SpoolFile))
		if err != nil {
			t.Fatal(err)
		}
		for _, pr := range fc.Patients {
			if bytes.Contains(spool, []byte(pr.Patient.ID)) || bytes.Contains(spool, []byte(pr.Patient.BirthDate)) {
				t.Fatal("the spool holds a local patient id or a birth date")
			}
		}
		steps := p.PatientsEnrolled + p.RecordsRegistered
		if p.Txs != (steps+DefaultStepsPerTx-1)/DefaultStepsPerTx || p.PatientsEnrolled != len(fc.Patients) {
			t.Fatalf("push %+v: something else than patients and records went on chain", p)
		}
	})
	t.Run("a rerun encrypts no facts again", func(t *testing.T) {
		before := vaultHashes(t, h.home)
		r, err := Read(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if r.FactsWritten != 0 || r.FactsUnchanged != len(fc.Patients) {
			t.Fatalf("rerun %+v", r)
		}
		after := vaultHashes(t, h.home)
		if len(after) != len(before) {
			t.Fatalf("the vault went from %d to %d entries", len(before), len(after))
		}
		for id, v := range before {
			if after[id] != v {
				t.Fatalf("entry %s was encrypted again", id)
			}
		}
	})
	t.Run("a changed Patient gets a new generation, the old one is erased, and nothing goes on chain", func(t *testing.T) {
		var victim *fhir.Patient
		for _, pr := range fc.Patients {
			if pr.Patient.DeceasedDateTime == "" && pr.Patient.BirthDate != "" && string(pr.Patient.BirthDate) < "2024-12-01" {
				victim = pr.Patient
				break
			}
		}
		if victim == nil {
			t.Fatal("no living patient in the cohort; pick another seed")
		}
		path := filepath.Join(export, "patients.ndjson")
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		field := `"birthDate":"` + string(victim.BirthDate) + `"`
		var out [][]byte
		for _, line := range bytes.Split(raw, []byte("\n")) {
			if bytes.Contains(line, []byte(`"id":"`+victim.ID+`"`)) {
				line = bytes.Replace(line, []byte(field), []byte(field+`,"deceasedDateTime":"2024-12-01"`), 1)
			}
			out = append(out, line)
		}
		if err := os.WriteFile(path, bytes.Join(out, []byte("\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		spoolBefore, _ := os.ReadFile(filepath.Join(DefaultSpoolDir(h.home), SpoolFile))
		r, err := Read(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if r.FactsWritten != 1 || r.FactsUnchanged != len(fc.Patients)-1 || r.RecordsEncrypted != 0 {
			t.Fatalf("read after the change: %+v", r)
		}
		pid := pseudonymOf(victim)
		f, err := vaultFacts(t, h.home, cohort.FactsIDAt(h.id, pid, 1))
		if err != nil {
			t.Fatalf("no second generation: %v", err)
		}
		if f.DeathDate != 20241201 || f.Generation != 1 {
			t.Fatalf("second generation %+v", f)
		}
		if _, err := vaultFacts(t, h.home, cohort.FactsID(h.id, pid)); !errors.Is(err, vault.ErrErased) {
			t.Fatalf("the first generation: err = %v, want it erased", err)
		}
		if spoolAfter, _ := os.ReadFile(filepath.Join(DefaultSpoolDir(h.home), SpoolFile)); !bytes.Equal(spoolBefore, spoolAfter) {
			t.Fatal("the spool changed")
		}
		if p, err := Push(ctx, o, c); err != nil || p.Txs != 0 {
			t.Fatalf("push after the change sent %+v, %v", p, err)
		}
		if again, err := Read(ctx, o); err != nil || again.FactsWritten != 0 {
			t.Fatalf("a rerun after the change wrote %+v, %v", again, err)
		}
	})
}
