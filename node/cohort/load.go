package cohort

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medchain/medchain/node/fhir"
	"github.com/medchain/medchain/node/recordcrypto"
	"github.com/medchain/medchain/node/vault"
)

// Logger receives Load's summary. Nothing it receives identifies a
// person: counts only. CometBFT's logger satisfies it.
type Logger interface {
	Info(msg string, keyvals ...any)
}

type nopLogger struct{}

func (nopLogger) Info(string, ...any) {}

// VaultBusyWait is how long Load waits for the vault while another process
// holds it: the running node's gateway opens it for each fetch or erasure
// and closes it a moment later (node/gateway's VaultLease).
const VaultBusyWait = 30 * time.Second

// Vault is what LoadFrom reads of a hospital's vault, by raw entry id.
// *vault.Vault and node/gateway's *VaultLease implement it.
type Vault interface {
	// List returns the ids of the entries the vault holds (not the erased).
	List() ([][]byte, error)
	// Get returns an entry's ciphertext and the custodian's sealed copy of
	// its data key; vault.ErrNotFound or vault.ErrErased if it has none.
	Get(id []byte) (ciphertext, sealedKey []byte, err error)
}

var _ Vault = (*vault.Vault)(nil)

// Load builds the hospital's Table from its vault (<home>/data/vault),
// opening it — waiting up to VaultBusyWait while another process holds it
// — for the length of the load; see LoadFrom. Inside the running node,
// whose gateway leases the same vault, call LoadFrom with that lease.
// lg may be nil.
func Load(home string, sealPriv [32]byte, lg Logger) (*Table, error) {
	v, err := openVault(home)
	if err != nil {
		return nil, fmt.Errorf("cohort: %w", err)
	}
	defer v.Close()
	return LoadFrom(v, sealPriv, lg)
}

// LoadFrom builds the hospital's Table from a vault: it decrypts every
// entry with the custodian's key — sealPriv is the X25519 private key of
// the hospital's seal key, recordcrypto.SealKeyPair's priv (the keyring
// entry node.SealKeyName's seed) — takes demographics and the local id →
// pseudonym map from the patient-facts entries and attaches each record (a
// FHIR Bundle, one clinical resource in each) to the patient its subject
// names. Erased records are not in the vault, so they never count. An
// entry that does not open with the key or does not parse fails the whole
// load (statistics over part of the data would be silently wrong). lg may
// be nil.
func LoadFrom(v Vault, sealPriv [32]byte, lg Logger) (*Table, error) {
	if lg == nil {
		lg = nopLogger{}
	}
	ids, err := v.List()
	if err != nil {
		return nil, fmt.Errorf("cohort: %w", err)
	}

	// Opening a sealed key (X25519) dominates: spread the entries over the
	// CPUs, each worker keeping what it parsed, and merge at the end.
	type result struct {
		facts   []*PatientFacts
		parts   []part
		records int
		err     error
	}
	workers := min(runtime.GOMAXPROCS(0), max(1, len(ids)))
	results := make([]result, workers)
	var failed atomic.Bool
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[w]
			for i := w; i < len(ids) && !failed.Load(); i += workers {
				f, ps, isRecord, err := openEntry(v, ids[i], sealPriv)
				if err != nil {
					r.err = err
					failed.Store(true)
					return
				}
				if f != nil {
					r.facts = append(r.facts, f)
				}
				if isRecord {
					r.records++
				}
				r.parts = append(r.parts, ps...)
			}
		}()
	}
	wg.Wait()
	b := newBuilder()
	records := 0
	for _, r := range results {
		if r.err != nil {
			return nil, r.err
		}
		for _, f := range r.facts {
			if err := b.addFacts(f); err != nil {
				return nil, fmt.Errorf("cohort: vault: %w", err)
			}
		}
		for _, p := range r.parts {
			b.addPart(p)
		}
		records += r.records
	}
	t := b.table()
	lg.Info("cohort: vault loaded", "patients", t.Len(), "records", records, "unattached", t.Unattached, "conflicts", t.Conflicts)
	if t.Unattached > 0 {
		lg.Info("cohort: some records name a patient the vault has no patient facts for; they count for no one until `medchain ingest read` runs again",
			"records", t.Unattached)
	}
	return t, nil
}

var factsPrefix = []byte(`{"format":`)

// openEntry decrypts one vault entry and parses it: a patient-facts entry
// (f) or a record bundle (its parts). An entry erased since List is
// skipped.
func openEntry(v Vault, id []byte, sealPriv [32]byte) (f *PatientFacts, ps []part, isRecord bool, err error) {
	ct, sealed, err := v.Get(id)
	if errors.Is(err, vault.ErrErased) || errors.Is(err, vault.ErrNotFound) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("cohort: %w", err)
	}
	name := hex.EncodeToString(id)
	key, err := recordcrypto.OpenKey(sealed, id, sealPriv)
	if err != nil {
		return nil, nil, false, fmt.Errorf("cohort: vault entry %s does not open with this hospital's seal key (is it this home's key?): %w", name, err)
	}
	pt, err := recordcrypto.DecryptRecord(key, id, ct)
	clear(key[:])
	if err != nil {
		return nil, nil, false, fmt.Errorf("cohort: vault entry %s does not decrypt: %w", name, err)
	}
	defer clear(pt)
	if bytes.HasPrefix(pt, factsPrefix) {
		f, err := DecodePatientFacts(pt)
		if err != nil {
			return nil, nil, false, fmt.Errorf("cohort: vault entry %s: %w", name, err)
		}
		if got := f.ID(); !bytes.Equal(got[:], id) {
			return nil, nil, false, fmt.Errorf("cohort: vault entry %s: %w: its content belongs under another id", name, ErrFacts)
		}
		return f, nil, false, nil
	}
	set, err := fhir.ReadBundle(bytes.NewReader(pt), fhir.Limits{MaxFileBytes: vault.MaxCiphertextSize})
	if err != nil {
		return nil, nil, false, fmt.Errorf("cohort: vault entry %s is neither patient facts nor a FHIR record bundle: %w", name, redactFHIR(err))
	}
	for _, rs := range [][]fhir.Resource{resourcesOf(set.Encounters), resourcesOf(set.Conditions), resourcesOf(set.Observations)} {
		for _, r := range rs {
			if p, ok := partOf(r); ok {
				ps = append(ps, p)
			}
		}
	}
	return nil, ps, true, nil
}

// redactFHIR keeps the kind and position of a FHIR reader's error and drops
// its message, which may quote a value.
func redactFHIR(err error) error {
	var fe *fhir.Error
	if errors.As(err, &fe) {
		return fmt.Errorf("%w at entry %d, field %s", fe.Kind, fe.Entry, fe.Field)
	}
	return errors.New("unreadable")
}

// openVault opens the home's vault, waiting up to VaultBusyWait while
// another process holds it briefly.
func openVault(home string) (*vault.Vault, error) {
	deadline := time.Now().Add(VaultBusyWait)
	for {
		v, err := vault.Open(home)
		if err == nil || !strings.Contains(err.Error(), "in use by another process") || time.Now().After(deadline) {
			return v, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
