package ingest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/medchain/medchain/node/fhir"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/recordcrypto"
	"github.com/medchain/medchain/node/vault"
)

// ReadSummary is what a read phase did.
type ReadSummary struct {
	Hospital string `json:"hospital"`
	Files    int    `json:"files"`
	// Patients and Records are in the export: pseudonyms and records.
	Patients int `json:"patients"`
	Records  int `json:"records"`
	// PatientsNew were added to the spool; PatientKeysCreated keys were made
	// in the patient keyring.
	PatientsNew        int `json:"patients_new"`
	PatientKeysCreated int `json:"patient_keys_created"`
	// RecordsEncrypted are new in the vault; RecordsRecovered were in the
	// vault but not in the spool (an interrupted run) and were spooled from
	// the vault's copy; RecordsSpooled were already in the spool;
	// RecordsErased were erased and are not imported again.
	RecordsEncrypted int `json:"records_encrypted"`
	RecordsRecovered int `json:"records_recovered"`
	RecordsSpooled   int `json:"records_already_spooled"`
	RecordsErased    int `json:"records_erased"`
	// FactsWritten patient-facts entries (node/cohort) went into the vault,
	// new or a new generation of a changed Patient; FactsUnchanged were
	// there already.
	FactsWritten   int `json:"patient_facts_written"`
	FactsUnchanged int `json:"patient_facts_unchanged"`
	// SpoolPatients and SpoolRecords are the spool's totals after the run.
	SpoolPatients int `json:"spool_patients"`
	SpoolRecords  int `json:"spool_records"`
}

// recordState is what the vault knows of a planned record.
type recordState int

const (
	stateNew     recordState = iota // not in the vault
	stateVaulted                    // in the vault with the same plaintext
	stateErased                     // erased: never imported again
)

// Read is the read phase: it reads and validates every source file (all
// closed before anything is written), derives pseudonyms, encrypts each new
// record under a fresh data key into the vault, and appends the patients and
// ready-to-sign record entries to the spool. It also keeps, per pseudonym,
// an encrypted patient-facts entry in the vault (node/cohort: what research
// queries need of the Patient resource; never on chain or in the spool). It
// never touches the network.
// Bad input — an invalid export, a resource whose content changed since it
// was imported, a spool made for another hospital or identity selection — is
// an error before anything is written. After a crash, running it again
// resumes: what the vault holds is reused, never encrypted a second time.
func Read(ctx context.Context, o Options) (*ReadSummary, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	hook, err := crashHookFromEnv()
	if err != nil {
		return nil, err
	}
	files, err := sourceFiles(o.Files)
	if err != nil {
		return nil, err
	}
	pepper, err := vault.LoadPepper(o.Home)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	defer clear(pepper)

	// 1. The source, read whole and closed (fhir.ReadFile closes each file).
	sets := make([]*fhir.Set, 0, len(files))
	for _, f := range files {
		s, err := fhir.ReadFile(f, o.Limits)
		if err != nil {
			return nil, fmt.Errorf("ingest: %w", redact(err))
		}
		sets = append(sets, s)
	}
	cohort, err := fhir.NewCohort(sets...)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", redact(err))
	}
	kr, err := openHomeKeyring(o)
	if err != nil {
		return nil, err
	}
	cust, err := loadCustodian(o, kr)
	if err != nil {
		return nil, err
	}
	defer cust.wipe()
	plan, err := makePlan(cohort, sets, cust.id, pepper, o.Identity)
	if err != nil {
		return nil, err
	}
	sum := &ReadSummary{Hospital: cust.id, Files: len(files), Patients: len(plan)}
	for _, p := range plan {
		sum.Records += len(p.records)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// 2. The spool, the vault: check everything before writing anything.
	sp, err := openSpool(o.SpoolDir, true)
	if err != nil {
		return nil, err
	}
	defer sp.close()
	if h := sp.header; h != nil {
		switch {
		case h.Hospital != cust.id:
			return nil, fmt.Errorf("%w: %s was made for hospital %s, this home is hospital %s; use another --spool", ErrSpool, o.SpoolDir, h.Hospital, cust.id)
		case !bytes.Equal(h.CustodianSealPubkey, cust.sealPub[:]):
			return nil, fmt.Errorf("%w: %s was made with another seal key than this home's; use another --spool", ErrSpool, o.SpoolDir)
		case !sameIdentity(h.Identity, o.Identity):
			return nil, fmt.Errorf("%w: %s derived pseudonyms from %s, not %s: use the same --identity (or another --spool)",
				ErrSpool, o.SpoolDir, strings.Join(h.Identity, ","), strings.Join(o.Identity, ","))
		}
	}
	if err := vault.EnsureKeys(o.Home); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	v, err := openVault(ctx, o.Home)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	defer v.Close()
	states, err := checkAgainstVault(ctx, v, sp, cust, plan)
	if err != nil {
		return nil, err
	}
	facts, err := checkFacts(ctx, v, cust, plan)
	if err != nil {
		return nil, err
	}

	// 3. Write: vault first (synced), then the spool (fsync'd per patient).
	pkr, err := keyring.Open(o.PatientKeyringDir, o.KeyringBackend, o.PatientPassphrase)
	if err != nil {
		return nil, fmt.Errorf("ingest: patient keyring: %w", err)
	}
	out, err := openAppender(sp.path(SpoolFile), sp.size)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	if sp.header == nil {
		h := &Header{Hospital: cust.id, CustodianSealPubkey: cust.sealPub[:], Identity: o.Identity}
		if err := out.Add(spoolLine{V: spoolVersion, Header: h}); err != nil {
			return nil, err
		}
		sp.header = h
	}
	wrote := false
	for start := 0; start < len(plan); start += sealChunk {
		chunk := plan[start:min(start+sealChunk, len(plan))]
		// The chunk's patient keys (created in the keyring if new), then
		// its new records encrypted and sealed on every core; the writes
		// below stay in order, one patient at a time.
		keys := make([]patientIdentity, len(chunk))
		for i, p := range chunk {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if keys[i], err = identityOf(pkr, sp, p.pseudonym, sum); err != nil {
				return nil, err
			}
		}
		sealed, err := sealChunkRecords(ctx, cust, chunk, keys, sp, states)
		if err != nil {
			return nil, err
		}
		for i, p := range chunk {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if err := writeFacts(v, cust, facts[p.pseudonym], sum); err != nil {
				return nil, err
			}
			n, err := readPatient(v, sp, out, cust, p, keys[i], sealed[i], states, sum, hook)
			if err != nil {
				return nil, err
			}
			if n == 0 {
				continue
			}
			if err := out.Sync(); err != nil {
				return nil, err
			}
			wrote = true
			hook.hit("read", n)
		}
	}
	if wrote || !sp.ended {
		if err := out.Add(spoolLine{V: spoolVersion, End: &EndEntry{Patients: len(sp.patients), Records: len(sp.records)}}); err != nil {
			return nil, err
		}
		if err := out.Sync(); err != nil {
			return nil, err
		}
	}
	sum.SpoolPatients, sum.SpoolRecords = len(sp.patients), len(sp.records)
	o.Logger.Info("ingest: read phase done", "hospital", cust.id, "patients", sum.Patients, "records", sum.Records,
		"encrypted", sum.RecordsEncrypted, "recovered", sum.RecordsRecovered, "already", sum.RecordsSpooled, "erased", sum.RecordsErased,
		"patient_facts_written", sum.FactsWritten, "patient_facts_unchanged", sum.FactsUnchanged)
	return sum, nil
}

// vaultBusyWait is how long Read waits for the vault while another process
// holds it: the running node's gateway opens it for each fetch or erasure
// and closes it a moment later (node/gateway's VaultLease).
const vaultBusyWait = 30 * time.Second

// openVault opens the home's vault, waiting while another process holds it
// briefly.
func openVault(ctx context.Context, home string) (*vault.Vault, error) {
	deadline := time.Now().Add(vaultBusyWait)
	for {
		v, err := vault.Open(home)
		if err == nil || !strings.Contains(err.Error(), "in use by another process") || time.Now().After(deadline) {
			return v, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkAgainstVault finds what the vault holds of each planned record and
// refuses, before anything is written, a record whose plaintext differs from
// the export (a changed resource under an old id), and a spooled record the
// vault does not hold (a replaced vault).
func checkAgainstVault(ctx context.Context, v *vault.Vault, sp *spool, cust *custodian, plan []*plannedPatient) (map[[32]byte]recordState, error) {
	states := map[[32]byte]recordState{}
	var changed []string
	for _, p := range plan {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for _, r := range p.records {
			ct, sealed, err := v.Get(r.id[:])
			switch {
			case errors.Is(err, vault.ErrNotFound):
				if sp.records[r.hexID()] != nil {
					return nil, fmt.Errorf("%w: the spool holds record %s (%s) but the vault does not: was the vault replaced? Move %s away and run again",
						ErrSpool, r.hexID(), r.name(), sp.dir)
				}
				states[r.id] = stateNew
				continue
			case errors.Is(err, vault.ErrErased):
				states[r.id] = stateErased
				continue
			case err != nil:
				return nil, fmt.Errorf("ingest: vault: %w", err)
			}
			if e := sp.records[r.hexID()]; e != nil {
				h := recordcrypto.ContentHash(ct)
				if !bytes.Equal(e.ContentHash, h[:]) || !bytes.Equal(e.SealedKeyCustodian, sealed) || e.Pseudonym != p.pseudonym {
					return nil, fmt.Errorf("%w: the spool's entry for record %s (%s) does not match the vault or the export; move %s away and run again",
						ErrSpool, r.hexID(), r.name(), sp.dir)
				}
			}
			same, err := sameContent(ct, sealed, cust, r)
			if err != nil {
				return nil, err
			}
			if !same {
				changed = append(changed, fmt.Sprintf("%s (record %s)", r.name(), r.hexID()))
			}
			states[r.id] = stateVaulted
		}
	}
	if len(changed) > 0 {
		more := ""
		if len(changed) > 5 {
			more = fmt.Sprintf(" and %d more", len(changed)-5)
			changed = changed[:5]
		}
		return nil, fmt.Errorf("%w: %s%s changed since they were imported; records are immutable, so export a changed resource under a new id; nothing was written",
			ErrExport, strings.Join(changed, ", "), more)
	}
	return states, nil
}

// sameContent opens a vaulted record with the custodian's seal key and
// compares it with the export.
func sameContent(ct, sealed []byte, cust *custodian, r *plannedRecord) (bool, error) {
	key, err := recordcrypto.OpenKey(sealed, r.id[:], cust.sealPriv)
	if err != nil {
		return false, fmt.Errorf("ingest: the vault's key of record %s does not open with this home's seal key: %w", r.hexID(), err)
	}
	defer clear(key[:])
	pt, err := recordcrypto.DecryptRecord(key, r.id[:], ct)
	if err != nil {
		return false, fmt.Errorf("ingest: the vault's record %s does not decrypt: %w", r.hexID(), err)
	}
	want, err := r.plaintext()
	if err != nil {
		return false, fmt.Errorf("ingest: %s: %w", r.name(), err)
	}
	same := bytes.Equal(pt, want)
	clear(pt)
	clear(want)
	return same, nil
}

// sealChunk is how many patients Read encrypts ahead of its writes.
const sealChunk = 64

// patientIdentity is a patient's signing and seal public keys.
type patientIdentity struct {
	pub     ed25519.PublicKey
	sealPub [32]byte
	spooled bool // the spool already holds the patient
}

// identityOf is the patient's identity: the spool's, or the patient
// keyring's (its keys created if missing).
func identityOf(pkr *keyring.Keyring, sp *spool, pseudonym string, sum *ReadSummary) (patientIdentity, error) {
	if pe := sp.patients[pseudonym]; pe != nil {
		return patientIdentity{pub: pe.Pubkey, sealPub: [32]byte(pe.SealPubkey), spooled: true}, nil
	}
	pub, sealPub, created, err := patientKeys(pkr, pseudonym)
	sum.PatientKeysCreated += created
	return patientIdentity{pub: pub, sealPub: sealPub}, err
}

// newRecord is a new record's ciphertext and its data key sealed to the
// custodian and to the patient, made before it is written.
type newRecord struct {
	ct, sealedCust, sealedPatient []byte
}

// sealChunkRecords encrypts and seals the chunk's new records (not in the
// spool, not in the vault, not erased) on GOMAXPROCS goroutines: the
// X25519 work of two seals per record is most of the read phase. out[i][j]
// is record j of patient i, nil when it is not new.
func sealChunkRecords(ctx context.Context, cust *custodian, chunk []*plannedPatient, keys []patientIdentity,
	sp *spool, states map[[32]byte]recordState) ([][]*newRecord, error) {
	type job struct{ i, j int }
	var jobs []job
	out := make([][]*newRecord, len(chunk))
	for i, p := range chunk {
		out[i] = make([]*newRecord, len(p.records))
		for j, r := range p.records {
			if sp.records[r.hexID()] == nil && states[r.id] == stateNew {
				jobs = append(jobs, job{i, j})
			}
		}
	}
	errs := make([]error, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Go(func() {
			for k := range next {
				jb := jobs[k]
				out[jb.i][jb.j], errs[k] = sealRecord(cust, chunk[jb.i].records[jb.j], keys[jb.i].sealPub)
			}
		})
	}
	for k := range jobs {
		if ctx.Err() != nil {
			break
		}
		next <- k
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, errors.Join(errs...)
}

// readPatient spools one patient and its records, putting new records in the
// vault first. sealed holds the new records' encryption (sealChunkRecords).
// It returns how many spool entries it queued.
func readPatient(v *vault.Vault, sp *spool, out *appender, cust *custodian, p *plannedPatient, id patientIdentity,
	sealed []*newRecord, states map[[32]byte]recordState, sum *ReadSummary, hook *crashHook) (int, error) {
	n := 0
	if !id.spooled {
		pe := &PatientEntry{Pseudonym: p.pseudonym, Pubkey: id.pub, SealPubkey: id.sealPub[:], Consent: consentName(p.consent)}
		if err := out.Add(spoolLine{V: spoolVersion, Patient: pe}); err != nil {
			return 0, err
		}
		sp.addPatient(pe)
		sum.PatientsNew++
		n++
	}
	for j, r := range p.records {
		if sp.records[r.hexID()] != nil {
			sum.RecordsSpooled++
			continue
		}
		var e *RecordEntry
		var err error
		switch states[r.id] {
		case stateErased:
			sum.RecordsErased++
			continue
		case stateVaulted:
			e, err = recoverRecord(v, cust, r, p.pseudonym, id.sealPub)
			sum.RecordsRecovered++
		default:
			e, err = putRecord(v, r, p.pseudonym, sealed[j])
			sum.RecordsEncrypted++
			hook.hit("vault", 1)
		}
		if err != nil {
			return 0, err
		}
		if err := out.Add(spoolLine{V: spoolVersion, Record: e}); err != nil {
			return 0, err
		}
		sp.addRecord(e)
		n++
	}
	return n, nil
}

// sealRecord encrypts a new record under a fresh data key and seals the key
// to the custodian and the patient.
func sealRecord(cust *custodian, r *plannedRecord, patientPub [32]byte) (*newRecord, error) {
	pt, err := r.plaintext()
	if err != nil {
		return nil, fmt.Errorf("ingest: %s: %w", r.name(), err)
	}
	defer clear(pt)
	key, err := recordcrypto.NewDataKey()
	if err != nil {
		return nil, err
	}
	defer clear(key[:])
	ct, err := recordcrypto.EncryptRecord(key, r.id[:], pt)
	if err != nil {
		return nil, err
	}
	sealedCust, err := recordcrypto.SealKey(key, r.id[:], cust.sealPub)
	if err != nil {
		return nil, err
	}
	sealedPatient, err := recordcrypto.SealKey(key, r.id[:], patientPub)
	if err != nil {
		return nil, err
	}
	return &newRecord{ct: ct, sealedCust: sealedCust, sealedPatient: sealedPatient}, nil
}

// putRecord puts a sealed new record in the vault (synced) and returns its
// spool entry.
func putRecord(v *vault.Vault, r *plannedRecord, pseudonym string, s *newRecord) (*RecordEntry, error) {
	if s == nil {
		// Broken invariant: sealChunkRecords seals every new record.
		panic("ingest: new record " + r.hexID() + " was not sealed")
	}
	if err := v.Put(r.id[:], s.ct, s.sealedCust); err != nil {
		return nil, fmt.Errorf("ingest: vault: %w", err)
	}
	return entryOf(r, pseudonym, s.ct, s.sealedCust, s.sealedPatient), nil
}

// recoverRecord spools a record the vault already holds: its ciphertext and
// custodian copy as they are, the data key sealed again to the patient.
func recoverRecord(v *vault.Vault, cust *custodian, r *plannedRecord, pseudonym string, patientPub [32]byte) (*RecordEntry, error) {
	ct, sealedCust, err := v.Get(r.id[:])
	if err != nil {
		return nil, fmt.Errorf("ingest: vault: %w", err)
	}
	key, err := recordcrypto.OpenKey(sealedCust, r.id[:], cust.sealPriv)
	if err != nil {
		return nil, fmt.Errorf("ingest: the vault's key of record %s does not open with this home's seal key: %w", r.hexID(), err)
	}
	defer clear(key[:])
	sealedPatient, err := recordcrypto.SealKey(key, r.id[:], patientPub)
	if err != nil {
		return nil, err
	}
	return entryOf(r, pseudonym, ct, sealedCust, sealedPatient), nil
}

func entryOf(r *plannedRecord, pseudonym string, ct, sealedCust, sealedPatient []byte) *RecordEntry {
	h := recordcrypto.ContentHash(ct)
	return &RecordEntry{
		RecordID: r.hexID(), Pseudonym: pseudonym, ResourceTypes: []string{r.typ}, Date: r.date,
		ContentHash: h[:], Size: uint64(len(ct)), SealedKeyPatient: sealedPatient, SealedKeyCustodian: sealedCust,
	}
}
