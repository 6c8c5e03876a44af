package cohort_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/cohort"
	"github.com/medchain/medchain/node/fhir"
	"github.com/medchain/medchain/node/gateway"
	"github.com/medchain/medchain/node/ingest"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/recordcrypto"
	"github.com/medchain/medchain/node/synth"
	"github.com/medchain/medchain/node/vault"
)

const testHospital = "h1"

// importedHome makes a hospital home (keyring with operator and seal keys,
// the alliance pepper) and runs the relay's read phase on hospital 0 of a
// synthetic cohort: the vault is what ingest.Read writes. It returns the
// home, the export folder and the custodian's X25519 private key.
func importedHome(t testing.TB, patients int, seed int64) (home, export string, sealPriv [32]byte) {
	t.Helper()
	d, err := synth.Generate(synth.Options{Hospitals: 1, Patients: patients, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "synth")
	if _, err := d.Write(dir); err != nil {
		t.Fatal(err)
	}
	home = t.TempDir()
	kr, err := keyring.Open(node.KeyringDir(home), keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Add(node.OperatorKeyName); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Add(node.SealKeyName); err != nil {
		t.Fatal(err)
	}
	seal, err := kr.Signer(node.SealKeyName)
	if err != nil {
		t.Fatal(err)
	}
	sealPriv, _ = recordcrypto.SealKeyPair([32]byte(seal.Seed()))
	if err := vault.WritePepper(home, allianceP); err != nil {
		t.Fatal(err)
	}
	export = filepath.Join(dir, "hospital0")
	o := ingest.Options{Home: home, Files: []string{export}, Hospital: testHospital, KeyringBackend: keyring.BackendTest}
	if _, err := ingest.Read(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	return home, export, sealPriv
}

// logLines records what Load logs.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Info(msg string, kv ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprint(append([]any{msg}, kv...)...))
}

func (l *logLines) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// view is the exported content of a patient's facts, for comparisons.
type view struct {
	Facts                   cohort.Facts
	HbA1c, BMI, SBP         int64
	HasHbA1c, HasBMI, HasSB bool
}

func viewOf(f *cohort.Facts) view {
	v := view{Facts: *f}
	v.HbA1c, v.HasHbA1c = f.Latest(pb.Field_FIELD_HBA1C)
	v.BMI, v.HasBMI = f.Latest(pb.Field_FIELD_BMI)
	v.SBP, v.HasSB = f.Latest(pb.Field_FIELD_SBP)
	return v
}

func sameViews(a, b *cohort.Facts) bool {
	va, vb := viewOf(a), viewOf(b)
	// The unexported latest measurements are compared through Latest.
	va.Facts, vb.Facts = stripLatest(va.Facts), stripLatest(vb.Facts)
	return reflect.DeepEqual(va, vb)
}

func stripLatest(f cohort.Facts) cohort.Facts {
	return cohort.Facts{Pseudonym: f.Pseudonym, Sex: f.Sex, BirthDate: f.BirthDate, DeathDate: f.DeathDate, ResearchConsent: f.ResearchConsent,
		Conditions: f.Conditions, Encounters: f.Encounters, FirstRecordDate: f.FirstRecordDate}
}

func TestLoadReadsWhatTheRelayWrote(t *testing.T) {
	home, export, sealPriv := importedHome(t, 60, 3)
	set := readHospital(t, filepath.Dir(export), 0)
	want, err := cohort.FromFHIR(set, allianceP, nil)
	if err != nil {
		t.Fatal(err)
	}
	main, a1c, bySex, byCond := truthQueries(t, "2025-01-01")
	queries := []*pb.Query{main, a1c}
	for _, s := range synth.Sexes {
		queries = append(queries, bySex[s])
	}
	for _, c := range synth.Categories {
		queries = append(queries, byCond[c])
	}

	t.Run("Load over the vault gives the same table and vectors as FromFHIR over the export", func(t *testing.T) {
		got, err := cohort.Load(home, sealPriv, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.Len() != want.Len() || got.Len() == 0 || got.Unattached != 0 || got.Conflicts != 0 {
			t.Fatalf("loaded %d patients (%d unattached, %d conflicts), the export has %d", got.Len(), got.Unattached, got.Conflicts, want.Len())
		}
		for i, f := range got.Patients() {
			if !sameViews(f, want.Patients()[i]) {
				t.Fatalf("patient %d differs:\n%+v\n%+v", i, viewOf(f), viewOf(want.Patients()[i]))
			}
		}
		for _, include := range []func(string) bool{
			func(string) bool { return true },
			func(p string) bool { f, _ := want.Patient(p); return f.ResearchConsent },
		} {
			for _, q := range queries {
				if a, b := evaluate(t, got, q, include), evaluate(t, want, q, include); !slices.Equal(a, b) {
					t.Fatalf("vectors differ for a query:\n%v\n%v", a, b)
				}
			}
		}
	})

	t.Run("LoadFrom reads through the gateway's vault lease, as inside the running node", func(t *testing.T) {
		lease := gateway.NewVaultLease(home, nil, 0)
		defer lease.Close()
		got, err := cohort.LoadFrom(lease, sealPriv, nil)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := evaluate(t, got, main, func(string) bool { return true }), evaluate(t, want, main, func(string) bool { return true }); !slices.Equal(a, b) {
			t.Fatal("the lease gives another vector")
		}
	})

	// Pick a patient with at least two encounters.
	var victim *cohort.Facts
	for _, f := range want.Patients() {
		if len(f.Encounters) >= 2 {
			victim = f
			break
		}
	}
	if victim == nil {
		t.Fatal("no patient with two encounters; pick another seed")
	}
	c, err := fhir.NewCohort(set)
	if err != nil {
		t.Fatal(err)
	}
	var local *fhir.PatientRecord
	for _, pr := range c.Patients {
		if pid, _ := fhir.Pseudonym(allianceP, fhir.IdentityOf(pr.Patient), cohort.DefaultIdentity); pid == victim.Pseudonym {
			local = pr
		}
	}
	erase := func(id [32]byte) {
		t.Helper()
		v, err := vault.Open(home)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		if err := v.Erase(id[:]); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("an erased record no longer counts", func(t *testing.T) {
		erase(ingest.RecordID(testHospital, "Encounter", local.Encounters[0].ID))
		got, err := cohort.Load(home, sealPriv, nil)
		if err != nil {
			t.Fatal(err)
		}
		f, ok := got.Patient(victim.Pseudonym)
		if !ok || len(f.Encounters) != len(victim.Encounters)-1 {
			t.Fatalf("after erasing one of %d encounters the patient has %d", len(victim.Encounters), len(f.Encounters))
		}
	})
	t.Run("records of a patient without facts count for no one, and Load says so", func(t *testing.T) {
		erase(cohort.FactsID(testHospital, victim.Pseudonym))
		lg := &logLines{}
		got, err := cohort.Load(home, sealPriv, lg)
		if err != nil {
			t.Fatal(err)
		}
		records := len(local.Encounters) - 1 + len(local.Conditions) + len(local.Observations)
		if _, ok := got.Patient(victim.Pseudonym); ok || got.Len() != want.Len()-1 || got.Unattached != records {
			t.Fatalf("%d patients, %d unattached; want %d and %d", got.Len(), got.Unattached, want.Len()-1, records)
		}
		if log := lg.all(); !strings.Contains(log, "ingest read") || strings.Contains(log, victim.Pseudonym) {
			t.Fatalf("log:\n%s", log)
		}
	})
	t.Run("a key that is not the custodian's is refused", func(t *testing.T) {
		var other [32]byte
		other[0] = 1
		if _, err := cohort.Load(home, other, nil); err == nil || !strings.Contains(err.Error(), "does not open with this hospital's seal key") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("Load waits while another process holds the vault", func(t *testing.T) {
		v, err := vault.Open(home)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := cohort.Load(home, sealPriv, nil)
			done <- err
		}()
		time.Sleep(300 * time.Millisecond)
		if err := v.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Load: %v", err)
		}
	})
	t.Run("a home without a vault key is refused", func(t *testing.T) {
		if _, err := cohort.Load(t.TempDir(), sealPriv, nil); err == nil {
			t.Fatal("no error")
		}
	})
}
