package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/node/chainrpc"
	"github.com/medchain/medchain/node/fhir"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/vault"
)

// options are the Options of a test ingest of hospital h from export dir.
func options(h *testHospital, dir string) Options {
	return Options{Home: h.home, Files: []string{dir}, Hospital: h.id, KeyringBackend: keyring.BackendTest, CommitTimeout: 10 * time.Second}
}

func pepperOf(t testing.TB, h *testHospital) []byte {
	t.Helper()
	p, err := vault.LoadPepper(h.home)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ingest(t testing.TB, ctx context.Context, o Options, c Chain) (*ReadSummary, *PushSummary) {
	t.Helper()
	r, err := Read(ctx, o)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	p, err := Push(ctx, o, c)
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	return r, p
}

// TestTwoHospitalsImportTheirExports: each hospital's export becomes exactly
// its patients and records on chain; a person seen at both hospitals is
// linked, and the second hospital's records are sealed to the key the first
// enrolled; a rerun sends nothing.
func TestTwoHospitalsImportTheirExports(t *testing.T) {
	ctx := context.Background()
	hs, c := newAlliance(t, 2)
	cohort, sum := writeCohort(t, 2, 5, 3)
	if sum.SharedPersons == 0 {
		t.Fatal("the cohort has no person at two hospitals; pick another seed")
	}
	pepper := pepperOf(t, hs[0])
	exp := []*expected{expectFrom(t, "h1", pepper, filepath.Join(cohort, "hospital0")), expectFrom(t, "h2", pepper, filepath.Join(cohort, "hospital1"))}
	opts := []Options{options(hs[0], filepath.Join(cohort, "hospital0")), options(hs[1], filepath.Join(cohort, "hospital1"))}
	keyrings := []string{DefaultPatientKeyringDir(hs[0].home), DefaultPatientKeyringDir(hs[1].home)}

	t.Run("the first hospital enrols every patient and registers every record", func(t *testing.T) {
		r, p := ingest(t, ctx, opts[0], c)
		if r.RecordsEncrypted != len(exp[0].records) || r.Patients != len(exp[0].patients) || r.PatientKeysCreated != 2*len(exp[0].patients) {
			t.Fatalf("read %+v; want %d records, %d patients", r, len(exp[0].records), len(exp[0].patients))
		}
		steps := p.PatientsEnrolled + p.RecordsRegistered
		if p.PatientsEnrolled != len(exp[0].patients) || p.RecordsRegistered != len(exp[0].records) || p.Txs != (steps+DefaultStepsPerTx-1)/DefaultStepsPerTx {
			t.Fatalf("push %+v", p)
		}
		verifyImported(t, ctx, c, hs[0].home, exp[0], keyrings...)
	})
	t.Run("the second hospital links the shared person and reseals its records to the first key", func(t *testing.T) {
		_, p := ingest(t, ctx, opts[1], c)
		if p.PatientsLinked != sum.SharedPersons || p.PatientsEnrolled != len(exp[1].patients)-sum.SharedPersons || p.RecordsResealed == 0 {
			t.Fatalf("push %+v; want %d linked", p, sum.SharedPersons)
		}
		verifyImported(t, ctx, c, hs[1].home, exp[1], keyrings...)
		verifyImported(t, ctx, c, hs[0].home, exp[0], keyrings...)
	})
	t.Run("a rerun of both hospitals encrypts nothing and sends nothing", func(t *testing.T) {
		for i := range opts {
			r, p := ingest(t, ctx, opts[i], c)
			if r.RecordsEncrypted+r.RecordsRecovered != 0 || r.RecordsSpooled != len(exp[i].records) || p.Txs != 0 {
				t.Fatalf("hospital %d rerun: read %+v push %+v", i, r, p)
			}
		}
		for i := range opts {
			verifyImported(t, ctx, c, hs[i].home, exp[i], keyrings...)
		}
	})
	t.Run("an erased record is not imported again", func(t *testing.T) {
		v, err := openVault(context.Background(), hs[0].home)
		if err != nil {
			t.Fatal(err)
		}
		var victim []byte
		for id := range exp[0].records {
			victim, _ = hex.DecodeString(id)
			break
		}
		if err := v.Erase(victim); err != nil {
			t.Fatal(err)
		}
		v.Close()
		o := opts[0]
		o.SpoolDir = filepath.Join(t.TempDir(), "fresh-spool")
		r, err := Read(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if r.RecordsErased != 1 || r.RecordsRecovered != len(exp[0].records)-1 || r.RecordsEncrypted != 0 {
			t.Fatalf("read after an erasure: %+v", r)
		}
	})
}

// cutSpool keeps the first keep lines of spool.jsonl and a torn piece of the
// next, as a crash before the last fsync would leave it.
func cutSpool(t testing.TB, dir string, keep int) {
	t.Helper()
	path := filepath.Join(dir, SpoolFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(raw, []byte("\n"))
	if keep >= len(lines)-1 {
		t.Fatalf("spool has only %d lines", len(lines)-1)
	}
	out := append(bytes.Join(lines[:keep], nil), lines[keep][:len(lines[keep])/2]...)
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// vaultHashes maps every vault record to its ciphertext, to prove that a
// rerun never re-encrypts.
func vaultHashes(t testing.TB, home string) map[string]string {
	t.Helper()
	v, err := openVault(context.Background(), home)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ids, err := v.List()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, id := range ids {
		ct, sealed, err := v.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		out[hex.EncodeToString(id)] = hex.EncodeToString(ct) + "/" + hex.EncodeToString(sealed)
	}
	return out
}

// TestAnInterruptedReadResumesFromTheVault: records that reached the vault
// but not the spool are spooled from the vault's copy, never encrypted again,
// and the push registers each exactly once.
func TestAnInterruptedReadResumesFromTheVault(t *testing.T) {
	cases := []struct {
		name  string
		crash func(t *testing.T, spoolDir string)
	}{
		{"the last lines were never fsync'd and one is torn", func(t *testing.T, dir string) { cutSpool(t, dir, 5) }},
		{"the spool was lost altogether", func(t *testing.T, dir string) {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			hs, c := newAlliance(t, 1)
			cohort, _ := writeCohort(t, 1, 4, 11)
			dir := filepath.Join(cohort, "hospital0")
			exp := expectFrom(t, "h1", pepperOf(t, hs[0]), dir)
			o := options(hs[0], dir)
			if _, err := Read(ctx, o); err != nil {
				t.Fatal(err)
			}
			before := vaultHashes(t, hs[0].home)
			tc.crash(t, DefaultSpoolDir(hs[0].home))
			if _, err := Push(ctx, o, c); err == nil || !errors.Is(err, ErrSpool) {
				t.Fatalf("push of an unfinished read: err = %v, want ErrSpool", err)
			}
			r, p := ingest(t, ctx, o, c)
			if r.RecordsRecovered == 0 || r.RecordsEncrypted != 0 || r.SpoolRecords != len(exp.records) {
				t.Fatalf("read after the crash: %+v", r)
			}
			if after := vaultHashes(t, hs[0].home); len(after) != len(before) {
				t.Fatalf("vault holds %d records, had %d", len(after), len(before))
			} else {
				for id, v := range before {
					if after[id] != v {
						t.Fatalf("record %s was encrypted again", id)
					}
				}
			}
			if p.RecordsRegistered != len(exp.records) {
				t.Fatalf("push %+v, want %d records", p, len(exp.records))
			}
			verifyImported(t, ctx, c, hs[0].home, exp, DefaultPatientKeyringDir(hs[0].home))
		})
	}
}

// TestAnInterruptedPushResumesWithoutDuplicates: the connection drops after
// the node took some txs of a batch; the push waits for those, records
// them, and stops at its next broadcast; the rerun sends only the rest.
// (A crash with txs still in the mempool is localnet_test.go's push:N.)
func TestAnInterruptedPushResumesWithoutDuplicates(t *testing.T) {
	cases := []struct {
		name                string
		batch, steps, after int
	}{
		{"the connection drops in the first batch", 500, 1, 7},
		{"the connection drops after two committed batches", 5, 1, 13},
		{"the connection drops before anything is sent", 500, 1, 0},
		{"the connection drops after two committed batches of record.import txs", 2, 3, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			hs, c := newAlliance(t, 1)
			cohort, _ := writeCohort(t, 1, 4, 5)
			dir := filepath.Join(cohort, "hospital0")
			exp := expectFrom(t, "h1", pepperOf(t, hs[0]), dir)
			o := options(hs[0], dir)
			o.BatchSize, o.StepsPerTx = tc.batch, tc.steps
			if _, err := Read(ctx, o); err != nil {
				t.Fatal(err)
			}
			c.failBroadcastsAfter(tc.after)
			if _, err := Push(ctx, o, c); err == nil || !strings.Contains(err.Error(), "connection lost") {
				t.Fatalf("push: err = %v, want the lost connection", err)
			}
			// What the node took before the drop was waited for and
			// recorded; the next pass's first broadcast failed.
			recorded := 0
			if tc.after > 0 {
				recorded = countLines(t, filepath.Join(DefaultSpoolDir(hs[0].home), PushedFile))
			}
			if recorded != tc.after*tc.steps {
				t.Fatalf("the push recorded %d steps before giving up, want the %d of the %d txs the node took", recorded, tc.after*tc.steps, tc.after)
			}
			c.failBroadcastsAfter(-1)
			p, err := Push(ctx, o, c)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.PatientsEnrolled + p.RecordsRegistered; got != len(exp.patients)+len(exp.records)-recorded {
				t.Fatalf("push after the drop: %+v; want the %d steps left", p, len(exp.patients)+len(exp.records)-recorded)
			}
			verifyImported(t, ctx, c, hs[0].home, exp, DefaultPatientKeyringDir(hs[0].home))
			for h, r := range c.results {
				if r.Code != 0 {
					t.Fatalf("tx %x was refused in block %d: %s", h, r.Height, r.Log)
				}
			}
			if n := countLines(t, filepath.Join(DefaultSpoolDir(hs[0].home), PushedFile)); n != len(exp.patients)+len(exp.records) {
				t.Fatalf("%s has %d lines, want %d", PushedFile, n, len(exp.patients)+len(exp.records))
			}
			if again, err := Push(ctx, o, c); err != nil || again.Txs != 0 {
				t.Fatalf("a third push sent %+v, %v", again, err)
			}
		})
	}
}

func countLines(t testing.TB, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for s := bufio.NewScanner(f); s.Scan(); {
		n++
	}
	return n
}

const (
	goodPatient = `{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:medchain:national-id","value":"11010519491231002X"},{"system":"urn:medchain:insurance","value":"INS12345678"}],"name":[{"use":"official","family":"Li","given":["Wei"]}],"telecom":[{"system":"phone","value":"13800138000","use":"mobile"}]}`
	goodObs     = `{"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2024-05-06","valueQuantity":{"value":120,"unit":"mmHg"}}`
)

// TestBadInputChangesNothing: a malformed export is refused with an error
// naming what is wrong; no spool is written, the vault stays empty, and the
// push phase has nothing to send.
func TestBadInputChangesNothing(t *testing.T) {
	cases := []struct {
		name    string
		file    string
		content string
		limits  fhir.Limits
		is      error
		says    string
	}{
		{"a wrong resourceType is refused naming it", "x.ndjson", goodPatient + "\n" + `{"resourceType":"MedicationRequest","id":"m1"}`, fhir.Limits{}, fhir.ErrResourceType, "MedicationRequest"},
		{"a resource without an id is refused naming the field", "x.ndjson", goodPatient + "\n" + strings.Replace(goodObs, `"id":"o1",`, "", 1), fhir.Limits{}, fhir.ErrMissing, "id"},
		{"a line over the line limit is refused", "x.ndjson", goodPatient + "\n" + `{"resourceType":"Patient","id":"p2","name":[{"family":"` + strings.Repeat("x", fhir.DefaultMaxLineBytes) + `"}]}`, fhir.Limits{}, fhir.ErrTooLarge, "line longer"},
		{"a file over the file limit is refused", "x.ndjson", goodPatient + "\n" + goodObs, fhir.Limits{MaxFileBytes: 256}, fhir.ErrTooLarge, "more than the limit"},
		{"a reference to a missing patient is refused", "x.ndjson", strings.Replace(goodObs, "Patient/p1", "Patient/p9", 1), fhir.Limits{}, fhir.ErrDangling, "Observation/o1: field subject.reference: the Patient it refers to"},
		{"a death before birth is refused without quoting the dates", "x.ndjson", strings.Replace(goodPatient, `"telecom"`, `"birthDate":"1949-12-31","deceasedDateTime":"1940-01-01","telecom"`, 1), fhir.Limits{}, fhir.ErrInvalid, "line 1: Patient: field deceasedDateTime: invalid value"},
		{"a duplicate national id is refused without quoting it", "x.ndjson", strings.Replace(goodPatient, `"identifier":[`, `"identifier":[{"system":"urn:medchain:national-id","value":"X1"},`, 1), fhir.Limits{}, fhir.ErrDuplicate, "field identifier[1]"},
		{"an observation without its date is refused", "x.ndjson", goodPatient + "\n" + strings.Replace(goodObs, `"effectiveDateTime":"2024-05-06",`, "", 1), fhir.Limits{}, ErrExport, "effectiveDateTime"},
		{"a Bundle that is a lone resource is refused", "x.json", goodPatient, fhir.Limits{}, fhir.ErrResourceType, "where a Bundle was expected"},
		{"a file of unknown type is refused", "x.csv", "id,name", fhir.Limits{}, fhir.ErrInvalid, "unknown file type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			hs, c := newAlliance(t, 1)
			path := filepath.Join(t.TempDir(), tc.file)
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			o := options(hs[0], path)
			o.Limits = tc.limits
			_, err := Read(ctx, o)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err = %v, want %v saying %q", err, tc.is, tc.says)
			}
			for _, secret := range []string{"11010519491231002X", "13800138000", "INS12345678", "Wei", "1949", "p1", "p9", "X1"} {
				if strings.Contains(strings.ReplaceAll(err.Error(), path, "FILE"), secret) {
					t.Fatalf("the error quotes an identity field: %v", err)
				}
			}
			if _, err := os.Stat(DefaultSpoolDir(hs[0].home)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a spool was written: %v", err)
			}
			if _, err := os.Stat(vault.Dir(hs[0].home)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the vault was touched: %v", err)
			}
			st0, _ := c.Status(ctx)
			if _, err := Push(ctx, o, c); !errors.Is(err, ErrSpool) {
				t.Fatalf("push after a refused read: err = %v, want ErrSpool", err)
			}
			if st1, _ := c.Status(ctx); st1.Height != st0.Height || c.pending() != 0 {
				t.Fatal("something was sent")
			}
		})
	}
}

// TestAChangedResourceIsRefusedBeforeAnythingIsWritten: records are
// immutable; a resource whose content changed under the same id is named,
// and neither the vault nor the spool changes.
func TestAChangedResourceIsRefusedBeforeAnythingIsWritten(t *testing.T) {
	ctx := context.Background()
	hs, c := newAlliance(t, 1)
	dir := t.TempDir()
	path := filepath.Join(dir, "export.ndjson")
	write := func(obs string) {
		if err := os.WriteFile(path, []byte(goodPatient+"\n"+obs+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(goodObs)
	o := options(hs[0], path)
	ingest(t, ctx, o, c)
	spoolBefore, _ := os.ReadFile(filepath.Join(DefaultSpoolDir(hs[0].home), SpoolFile))
	vaultBefore := vaultHashes(t, hs[0].home)
	// The value changes and a new observation arrives in the same export.
	write(strings.Replace(goodObs, `"value":120`, `"value":135`, 1) + "\n" + strings.Replace(goodObs, `"id":"o1"`, `"id":"o2"`, 1))
	_, err := Read(ctx, o)
	if !errors.Is(err, ErrExport) || !strings.Contains(err.Error(), "Observation/o1") || !strings.Contains(err.Error(), "changed since") {
		t.Fatalf("err = %v, want the changed Observation/o1 named", err)
	}
	spoolAfter, _ := os.ReadFile(filepath.Join(DefaultSpoolDir(hs[0].home), SpoolFile))
	if !bytes.Equal(spoolBefore, spoolAfter) {
		t.Fatal("the spool changed")
	}
	if after := vaultHashes(t, hs[0].home); len(after) != len(vaultBefore) {
		t.Fatalf("the vault went from %d to %d records", len(vaultBefore), len(after))
	}
}

// TestMisuseIsRefusedWithTheWayOut: a spool of another hospital or
// identity selection, a push from another hospital's home, a malformed
// crash hook.
func TestMisuseIsRefusedWithTheWayOut(t *testing.T) {
	ctx := context.Background()
	hs, c := newAlliance(t, 2)
	path := filepath.Join(t.TempDir(), "export.ndjson")
	if err := os.WriteFile(path, []byte(goodPatient+"\n"+goodObs+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := options(hs[0], path)
	if _, err := Read(ctx, o); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		run  func() error
		says string
	}{
		{"reading with other identity fields into the same spool is refused", func() error {
			x := o
			x.Identity = []string{"national_id"}
			_, err := Read(ctx, x)
			return err
		}, "use the same --identity"},
		{"reading for another hospital into the same spool is refused", func() error {
			x := o
			x.Hospital = "h2"
			_, err := Read(ctx, x)
			return err
		}, "made for hospital h1"},
		{"pushing a spool from another hospital's home is refused", func() error {
			x := o
			x.Home = hs[1].home
			x.SpoolDir = DefaultSpoolDir(hs[0].home)
			_, err := Push(ctx, x, c)
			return err
		}, "is not the operator of hospital h1"},
		{"pushing a pushed spool to another chain is refused", func() error {
			if _, err := Push(ctx, o, c); err != nil {
				return err
			}
			_, err := Push(ctx, o, c.another())
			return err
		}, "is --node the chain the spool was pushed to?"},
		{"an unknown identity field is refused", func() error {
			x := o
			x.Identity = []string{"email"}
			_, err := Read(ctx, x)
			return err
		}, "unknown field"},
		{"a malformed crash hook is refused", func() error {
			t.Setenv(CrashEnv, "read:zero")
			_, err := Read(ctx, o)
			return err
		}, CrashEnv},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err = %v, want it to say %q", err, tc.says)
			}
		})
	}
}

// raceChain runs first, once, just before the first broadcast through it:
// what another hospital's push commits between this push's plan and its
// txs.
type raceChain struct {
	*appChain
	first func()
}

func (r *raceChain) Broadcast(ctx context.Context, raw []byte) (chainrpc.Broadcast, error) {
	if f := r.first; f != nil {
		r.first = nil
		f()
	}
	return r.appChain.Broadcast(ctx, raw)
}

// TestARefusedImportBatchFallsBackToSingleSteps: the second hospital plans
// to enrol a person the first hospital enrols a moment later, so its
// record.import batch is refused in its block; the push then sends each
// step alone, links the person, and imports everything.
func TestARefusedImportBatchFallsBackToSingleSteps(t *testing.T) {
	ctx := context.Background()
	hs, c := newAlliance(t, 2)
	cohort, sum := writeCohort(t, 2, 5, 3)
	if sum.SharedPersons == 0 {
		t.Fatal("the cohort has no person at two hospitals; pick another seed")
	}
	pepper := pepperOf(t, hs[0])
	exp := []*expected{expectFrom(t, "h1", pepper, filepath.Join(cohort, "hospital0")), expectFrom(t, "h2", pepper, filepath.Join(cohort, "hospital1"))}
	opts := []Options{options(hs[0], filepath.Join(cohort, "hospital0")), options(hs[1], filepath.Join(cohort, "hospital1"))}
	for _, o := range opts {
		if _, err := Read(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	race := &raceChain{appChain: c, first: func() {
		if _, err := Push(ctx, opts[0], c); err != nil {
			t.Errorf("the first hospital's push: %v", err)
		}
	}}
	p, err := Push(ctx, opts[1], race)
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	refused := 0
	for _, r := range c.results {
		if r.Code != 0 {
			refused++
			if !strings.Contains(r.Log, "items[") {
				t.Errorf("a refusal does not name its step: %s", r.Log)
			}
		}
	}
	if refused != 1 {
		t.Fatalf("%d txs refused in blocks, want the one batch", refused)
	}
	if p.PatientsLinked != sum.SharedPersons || p.Txs <= 1 {
		t.Fatalf("push %+v: want %d linked, with single-step txs after the refused batch", p, sum.SharedPersons)
	}
	keyrings := []string{DefaultPatientKeyringDir(hs[0].home), DefaultPatientKeyringDir(hs[1].home)}
	verifyImported(t, ctx, c, hs[1].home, exp[1], keyrings...)
	verifyImported(t, ctx, c, hs[0].home, exp[0], keyrings...)
}
