package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/medchain/medchain/node/cohort"
	"github.com/medchain/medchain/node/recordcrypto"
	"github.com/medchain/medchain/node/vault"
)

// factsPlan is what the read phase does with one pseudonym's patient-facts
// entry (node/cohort): write a generation, erase older ones, or nothing.
type factsPlan struct {
	pseudonym string
	write     *cohort.PatientFacts // nil: nothing to write
	erase     []uint32             // generations to erase once write is in the vault
	unchanged bool                 // the vault holds these facts already
}

// checkFacts finds what the vault holds of each planned patient's facts,
// before anything is written. A vault entry that does not open with this
// home's seal key is an error.
func checkFacts(ctx context.Context, v *vault.Vault, cust *custodian, plan []*plannedPatient) (map[string]*factsPlan, error) {
	out := make(map[string]*factsPlan, len(plan))
	for _, p := range plan {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		want, err := cohort.NewPatientFacts(cust.id, p.pseudonym, p.patients)
		if err != nil {
			return nil, fmt.Errorf("ingest: %w", err)
		}
		if _, err := want.Encode(); err != nil {
			return nil, fmt.Errorf("ingest: %w", err)
		}
		fp, err := planFacts(v, cust, want)
		if err != nil {
			return nil, err
		}
		out[p.pseudonym] = fp
	}
	return out, nil
}

// planFacts compares want with the generations the vault holds. Equal to
// the latest: nothing to write (older ones left by a crash are erased).
// Different (the Patient changed: a death, a withdrawn consent): the next
// generation is written and every older one erased, since the vault never
// overwrites an id. None at all: generation 0 — unless every generation was
// erased, which is respected like an erased record.
func planFacts(v *vault.Vault, cust *custodian, want *cohort.PatientFacts) (*factsPlan, error) {
	fp := &factsPlan{pseudonym: want.Pseudonym}
	var present []uint32
	var latest []byte
	defer func() { clear(latest) }()
	erased := false
	g := uint32(0)
	for ; ; g++ {
		id := cohort.FactsIDAt(cust.id, want.Pseudonym, g)
		ct, sealed, err := v.Get(id[:])
		if errors.Is(err, vault.ErrNotFound) {
			break
		}
		if errors.Is(err, vault.ErrErased) {
			erased = true
		} else if err != nil {
			return nil, fmt.Errorf("ingest: vault: %w", err)
		} else {
			pt, err := openFacts(ct, sealed, id, cust)
			if err != nil {
				return nil, err
			}
			clear(latest)
			latest = pt
			present = append(present, g)
		}
		if g == math.MaxUint32 {
			return nil, fmt.Errorf("ingest: the vault holds every generation of a patient's facts; it is damaged")
		}
	}
	if len(present) == 0 {
		if !erased {
			want.Generation = g
			fp.write = want
		}
		return fp, nil
	}
	top := present[len(present)-1]
	want.Generation = top
	enc, err := want.Encode()
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	defer clear(enc)
	if bytes.Equal(enc, latest) {
		fp.unchanged = true
		fp.erase = present[:len(present)-1]
		return fp, nil
	}
	want.Generation = g
	fp.write, fp.erase = want, present
	return fp, nil
}

// openFacts decrypts a vault patient-facts entry with the custodian's key.
func openFacts(ct, sealed []byte, id [32]byte, cust *custodian) ([]byte, error) {
	key, err := recordcrypto.OpenKey(sealed, id[:], cust.sealPriv)
	if err != nil {
		return nil, fmt.Errorf("ingest: the vault's patient facts %x do not open with this home's seal key: %w", id, err)
	}
	defer clear(key[:])
	pt, err := recordcrypto.DecryptRecord(key, id[:], ct)
	if err != nil {
		return nil, fmt.Errorf("ingest: the vault's patient facts %x do not decrypt: %w", id, err)
	}
	return pt, nil
}

// writeFacts carries out a factsPlan: the new generation first (synced),
// then the erasure of the older ones, so that a crash in between leaves
// both and Load keeps the newer.
func writeFacts(v *vault.Vault, cust *custodian, fp *factsPlan, sum *ReadSummary) error {
	if fp.unchanged {
		sum.FactsUnchanged++
	}
	if f := fp.write; f != nil {
		pt, err := f.Encode()
		if err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
		defer clear(pt)
		id := f.ID()
		key, err := recordcrypto.NewDataKey()
		if err != nil {
			return err
		}
		defer clear(key[:])
		ct, err := recordcrypto.EncryptRecord(key, id[:], pt)
		if err != nil {
			return err
		}
		sealed, err := recordcrypto.SealKey(key, id[:], cust.sealPub)
		if err != nil {
			return err
		}
		if err := v.Put(id[:], ct, sealed); err != nil {
			return fmt.Errorf("ingest: vault: patient facts: %w", err)
		}
		sum.FactsWritten++
	}
	for _, g := range fp.erase {
		id := cohort.FactsIDAt(cust.id, fp.pseudonym, g)
		if err := v.Erase(id[:]); err != nil {
			return fmt.Errorf("ingest: vault: erase an older generation of patient facts: %w", err)
		}
	}
	return nil
}
