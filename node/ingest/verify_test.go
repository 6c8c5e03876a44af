package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/chainrpc"
	"github.com/medchain/medchain/node/fhir"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/recordcrypto"
	"github.com/medchain/medchain/node/synth"
)

// expected is what an export must become, computed from the FHIR files
// without the package's planning code: pseudonyms with fhir.Pseudonym,
// record ids and plaintexts by the documented formulas.
type expected struct {
	hospital string
	patients map[string]pb.Consent // pseudonym → consent (merged)
	records  map[string]expRecord  // record id (hex) → record
}

type expRecord struct {
	pseudonym, typ string
	date           uint32
	plaintext      []byte
}

func expectFrom(t testing.TB, hospital string, pepper []byte, dir string) *expected {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.ndjson"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no export in %s: %v", dir, err)
	}
	c, err := fhir.LoadCohort(fhir.Limits{}, files...)
	if err != nil {
		t.Fatal(err)
	}
	e := &expected{hospital: hospital, patients: map[string]pb.Consent{}, records: map[string]expRecord{}}
	for _, pr := range c.Patients {
		pid, err := fhir.Pseudonym(pepper, fhir.IdentityOf(pr.Patient), DefaultIdentity)
		if err != nil {
			t.Fatal(err)
		}
		consent := pb.Consent_CONSENT_UNSPECIFIED
		for _, x := range pr.Patient.Extension {
			if x.URL == fhir.ConsentExtensionURL && x.ValueBoolean != nil {
				consent = map[bool]pb.Consent{true: pb.Consent_CONSENT_OPT_IN, false: pb.Consent_CONSENT_OPT_OUT}[*x.ValueBoolean]
			}
		}
		if old, seen := e.patients[pid]; seen && old != consent {
			t.Fatalf("the synthetic export has one person with two consents")
		}
		e.patients[pid] = consent
		add := func(r fhir.Resource, date string) {
			sum := sha256.Sum256([]byte("medchain/record id/v1\x00" + hospital + "\x00" + r.ResourceType() + "/" + r.ResourceID()))
			j, err := fhir.Canonical(r)
			if err != nil {
				t.Fatal(err)
			}
			d := strings.ReplaceAll(date[:10], "-", "")
			var n uint32
			for _, ch := range d {
				n = n*10 + uint32(ch-'0')
			}
			e.records[hex.EncodeToString(sum[:])] = expRecord{pseudonym: pid, typ: r.ResourceType(), date: n,
				plaintext: []byte(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":` + string(j) + `}]}`)}
		}
		for _, x := range pr.Encounters {
			add(x, string(x.Period.Start))
		}
		for _, x := range pr.Conditions {
			add(x, string(x.OnsetDateTime))
		}
		for _, x := range pr.Observations {
			add(x, string(x.EffectiveDateTime))
		}
	}
	return e
}

// writeCohort writes a synthetic alliance export and returns its folder.
func writeCohort(t testing.TB, hospitals, patients int, seed int64) (string, *synth.Summary) {
	t.Helper()
	d, err := synth.Generate(synth.Options{Hospitals: hospitals, Patients: patients, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "cohort")
	s, err := d.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, s
}

// verifyImported checks the chain and the vault against an expectation:
// every pseudonym is enrolled at the hospital; the hospital's records of each
// patient on chain are exactly the expected ones (none missing, none extra);
// each record's content hash, size, type, date and custodian copy match the
// vault, whose ciphertext decrypts with the custodian key to the expected
// plaintext; and the patient copy opens, with the seal key that the patient's
// account names, to the same data key.
func verifyImported(t testing.TB, ctx context.Context, c Chain, home string, e *expected, patientKeyrings ...string) {
	t.Helper()
	custPriv := homeSealKey(t, home)
	v, err := openVault(context.Background(), home)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	seen := 0
	for pid, consent := range e.patients {
		st, err := chainrpc.QueryMessage[pb.Patient](ctx, c, patientPath(pid))
		if err != nil || st == nil {
			t.Fatalf("patient %s is not on chain: %v", pid, err)
		}
		if !slices.Contains(st.Hospitals, e.hospital) {
			t.Fatalf("patient %s is enrolled at %v, not at %s", pid, st.Hospitals, e.hospital)
		}
		acc, err := chainrpc.QueryMessage[pb.Account](ctx, c, accountPath(st.Account))
		if err != nil || acc == nil {
			t.Fatalf("patient %s: account %s: %v", pid, st.Account, err)
		}
		if acc.Hospital == e.hospital && consent != pb.Consent_CONSENT_UNSPECIFIED {
			h, err := chainrpc.QueryMessage[pb.ConsentHistory](ctx, c, "/records/patient/"+pid+"/consent")
			if err != nil || h == nil || len(h.Entries) == 0 || h.Entries[0].Research != consent {
				t.Fatalf("patient %s: consent on chain %v, want %v (%v)", pid, h, consent, err)
			}
		}
		patientPriv := patientSealKey(t, pid, acc.SealPubkey, patientKeyrings)
		list, err := chainrpc.QueryMessage[pb.RecordList](ctx, c, patientRecordsPath(pid))
		if err != nil {
			t.Fatal(err)
		}
		var got, want []string
		if list != nil {
			for _, r := range list.Records {
				if r.Custodian == e.hospital {
					got = append(got, r.Id)
				}
			}
		}
		for id, r := range e.records {
			if r.pseudonym == pid {
				want = append(want, id)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("patient %s has %d records of %s on chain, want %d (a duplicate or a loss)", pid, len(got), e.hospital, len(want))
		}
		seen += len(got)
		for _, r := range list.Records {
			if r.Custodian != e.hospital {
				continue
			}
			x := e.records[r.Id]
			id, _ := hex.DecodeString(r.Id)
			ct, sealedCust, err := v.Get(id)
			if err != nil {
				t.Fatalf("record %s is on chain but not in the vault: %v", r.Id, err)
			}
			h := sha256.Sum256(ct)
			if !bytes.Equal(r.ContentHash, h[:]) || r.Size != uint64(len(ct)) || !bytes.Equal(r.SealedKeyCustodian, sealedCust) {
				t.Fatalf("record %s: the chain's hash, size or custodian copy is not the vault's", r.Id)
			}
			if !slices.Equal(r.ResourceTypes, []string{x.typ}) || r.Date != x.date || r.Pseudonym != pid {
				t.Fatalf("record %s: types %v date %d on chain, want %s %d", r.Id, r.ResourceTypes, r.Date, x.typ, x.date)
			}
			key, err := recordcrypto.OpenKey(sealedCust, id, custPriv)
			if err != nil {
				t.Fatalf("record %s: the custodian copy does not open: %v", r.Id, err)
			}
			pt, err := recordcrypto.DecryptRecord(key, id, ct)
			if err != nil || !bytes.Equal(pt, x.plaintext) {
				t.Fatalf("record %s: the vault's ciphertext does not decrypt to the export's resource: %v", r.Id, err)
			}
			pkey, err := recordcrypto.OpenKey(r.SealedKeyPatient, id, patientPriv)
			if err != nil || pkey != key {
				t.Fatalf("record %s: the patient copy does not open to the data key: %v", r.Id, err)
			}
		}
	}
	if seen != len(e.records) {
		t.Fatalf("%d records of %s on chain, want %d", seen, e.hospital, len(e.records))
	}
}

func homeSealKey(t testing.TB, home string) [32]byte {
	t.Helper()
	kr, err := keyring.Open(node.KeyringDir(home), keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	seal, err := kr.Signer(node.SealKeyName)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := recordcrypto.SealKeyPair([32]byte(seal.Seed()))
	return priv
}

// patientSealKey finds, in the patient keyrings, the seal key of pid whose
// public key is the one on chain.
func patientSealKey(t testing.TB, pid string, onChain []byte, dirs []string) [32]byte {
	t.Helper()
	for _, dir := range dirs {
		kr, err := keyring.Open(dir, keyring.BackendTest, nil)
		if err != nil {
			t.Fatal(err)
		}
		seal, err := kr.Signer(patientKeyName(pid) + "-seal")
		if errors.Is(err, keyring.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		priv, pub := recordcrypto.SealKeyPair([32]byte(seal.Seed()))
		if bytes.Equal(pub[:], onChain) {
			return priv
		}
	}
	t.Fatalf("no patient keyring holds the seal key of %s that the chain names", pid)
	return [32]byte{}
}
