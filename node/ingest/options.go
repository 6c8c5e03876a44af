package ingest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/medchain/medchain/contracts/records"
	"github.com/medchain/medchain/genesis"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/fhir"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/recordcrypto"
)

// DefaultIdentity are the identity fields a pseudonym is derived from unless
// Options.Identity says otherwise: all four, so that two different people
// practically never share a pseudonym.
var DefaultIdentity = []string{fhir.FieldNationalID, fhir.FieldInsurance, fhir.FieldName, fhir.FieldPhone}

// Defaults of Options.
const (
	DefaultBatchSize = 500
	// MaxStepsInFlight bounds the enrolments and registrations sent before
	// the push phase waits for their commit (≈ 7 MB of record.import txs):
	// a mempool of hundreds of big txs slows every block's recheck, and a
	// broadcast waiting behind it past the RPC server's write timeout is
	// cut off.
	MaxStepsInFlight     = 20000
	DefaultCommitTimeout = 2 * time.Minute
	MaxBatchSize         = 4000 // below CometBFT's default mempool size (5000)
	// DefaultStepsPerTx: enrolments and registrations per record.import tx
	// (≈ 350 bytes each: ≈ 70 KB txs).
	DefaultStepsPerTx = 200
)

// DefaultSpoolDir is where a home keeps its ingest spool.
func DefaultSpoolDir(home string) string { return filepath.Join(home, "data", "ingest-spool") }

// DefaultPatientKeyringDir is where a home keeps the patient identities the
// relay creates: PatientsHome(home)/keyring, so that PatientsHome(home)
// serves as the --home of `medchain grant …` for those patients until
// their keys are handed over (`medchain keys export`).
func DefaultPatientKeyringDir(home string) string {
	return filepath.Join(PatientsHome(home), "keyring")
}

// PatientsHome is the folder, inside a hospital's home, that holds the
// keyring of the patient identities the relay created.
func PatientsHome(home string) string { return filepath.Join(home, "patients") }

// Logger receives progress lines. Nothing it receives identifies a person:
// counts, heights, record ids and pseudonyms only. CometBFT's logger
// satisfies it.
type Logger interface {
	Info(msg string, keyvals ...any)
}

type nopLogger struct{}

func (nopLogger) Info(string, ...any) {}

// Options configure Read and Push. Home is required; Read needs Files.
type Options struct {
	// Home is the hospital node's home: its keyring (operator and seal keys),
	// alliance pepper, vault and genesis.
	Home string
	// Files are FHIR exports: .ndjson files (one resource per line), .json
	// Bundles, or folders whose .ndjson and .json files are all read.
	Files []string
	// Identity selects the identity fields of the pseudonym (see
	// fhir.Pseudonym); default DefaultIdentity. All member hospitals must use
	// the same selection, or one person gets two pseudonyms.
	Identity []string
	// SpoolDir defaults to DefaultSpoolDir(Home).
	SpoolDir string
	// PatientKeyringDir defaults to DefaultPatientKeyringDir(Home).
	PatientKeyringDir string
	// KeyringBackend is keyring.BackendFile (default) or BackendTest, for
	// both the home keyring and the patient keyring.
	KeyringBackend string
	// Passphrase unlocks the home keyring; PatientPassphrase protects the
	// patient keyring (asked once each; required for the file backend).
	Passphrase, PatientPassphrase keyring.PassphraseFunc
	// Hospital is this home's hospital id; by default the genesis member
	// whose operator key is the home's.
	Hospital string
	// Limits bound what the FHIR reader accepts.
	Limits fhir.Limits
	// BatchSize is how many txs the push phase sends before it waits for
	// their commit (default DefaultBatchSize); CommitTimeout how long it
	// waits for one batch (default DefaultCommitTimeout).
	BatchSize     int
	CommitTimeout time.Duration
	// StepsPerTx is how many enrolments and record registrations travel in
	// one record.import tx (default DefaultStepsPerTx, at most
	// records.MaxImportItems); 1 sends each as its own tx.
	StepsPerTx int
	Logger     Logger
}

// withDefaults checks o and fills in its defaults. It touches no file.
func (o Options) withDefaults() (Options, error) {
	if o.Home == "" {
		return o, errors.New("ingest: --home is required: the hospital node's home folder")
	}
	if o.Identity == nil {
		o.Identity = slices.Clone(DefaultIdentity)
	}
	if err := checkIdentity(o.Identity); err != nil {
		return o, fmt.Errorf("ingest: --identity: %w", err)
	}
	if o.SpoolDir == "" {
		o.SpoolDir = DefaultSpoolDir(o.Home)
	}
	if o.PatientKeyringDir == "" {
		o.PatientKeyringDir = DefaultPatientKeyringDir(o.Home)
	}
	if o.KeyringBackend == "" {
		o.KeyringBackend = keyring.BackendFile
	}
	if o.KeyringBackend != keyring.BackendFile && o.KeyringBackend != keyring.BackendTest {
		return o, fmt.Errorf("ingest: --keyring-backend %.20q: use %s or %s", o.KeyringBackend, keyring.BackendFile, keyring.BackendTest)
	}
	if o.Hospital != "" && !hospitalIDPattern.MatchString(o.Hospital) {
		return o, fmt.Errorf("ingest: --hospital %.40q: a hospital id is 1 to 32 of a-z 0-9 -, starting with a letter or digit", o.Hospital)
	}
	switch {
	case o.BatchSize == 0:
		o.BatchSize = DefaultBatchSize
	case o.BatchSize < 1 || o.BatchSize > MaxBatchSize:
		return o, fmt.Errorf("ingest: batch size %d: use 1 to %d", o.BatchSize, MaxBatchSize)
	}
	switch {
	case o.StepsPerTx == 0:
		o.StepsPerTx = DefaultStepsPerTx
	case o.StepsPerTx < 1 || o.StepsPerTx > records.MaxImportItems:
		return o, fmt.Errorf("ingest: steps per tx %d: use 1 to %d", o.StepsPerTx, records.MaxImportItems)
	}
	if o.CommitTimeout <= 0 {
		o.CommitTimeout = DefaultCommitTimeout
	}
	if o.Logger == nil {
		o.Logger = nopLogger{}
	}
	if o.Passphrase != nil {
		o.Passphrase = node.OncePassphrase(o.Passphrase)
	}
	if o.PatientPassphrase != nil {
		o.PatientPassphrase = node.OncePassphrase(o.PatientPassphrase)
	}
	return o, nil
}

// checkIdentity validates a pseudonym field selection.
func checkIdentity(which []string) error { return fhir.ParseIdentitySelectors(which) }

// sameIdentity reports whether two selections give the same pseudonyms
// (the order does not matter).
func sameIdentity(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// sourceFiles expands folders into their .ndjson and .json files, sorted.
func sourceFiles(paths []string) ([]string, error) {
	if len(paths) == 0 {
		return nil, errors.New("ingest: --fhir is required: the FHIR export files or folders to import")
	}
	var out []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("ingest: --fhir %s: %w", p, err)
		}
		if !fi.IsDir() {
			out = append(out, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("ingest: --fhir %s: %w", p, err)
		}
		n := 0
		for _, e := range entries {
			ext := strings.ToLower(filepath.Ext(e.Name()))
			if e.Type().IsRegular() && (ext == ".ndjson" || ext == ".json") {
				out = append(out, filepath.Join(p, e.Name()))
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("ingest: --fhir %s: the folder holds no .ndjson or .json file", p)
		}
	}
	return out, nil
}

// custodian is this home's hospital as the keeper of the records.
type custodian struct {
	id          string
	operatorPub ed25519.PublicKey
	sealPub     [32]byte
	sealPriv    [32]byte // the seal key's seed: the X25519 private key
}

func (c *custodian) wipe() { clear(c.sealPriv[:]) }

// openHomeKeyring opens <home>/keyring.
func openHomeKeyring(o Options) (*keyring.Keyring, error) {
	dir := node.KeyringDir(o.Home)
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("ingest: keyring %s: %w (is --home a medchain home made by `medchain init`?)", dir, err)
	}
	return keyring.Open(dir, o.KeyringBackend, o.Passphrase)
}

// loadCustodian reads the hospital's operator public key and unlocks its
// seal key; the hospital id is o.Hospital or the genesis member whose
// operator key this is.
func loadCustodian(o Options, kr *keyring.Keyring) (*custodian, error) {
	op, err := kr.Show(node.OperatorKeyName)
	if err != nil {
		return nil, fmt.Errorf("ingest: the hospital's %q key: %w", node.OperatorKeyName, err)
	}
	seal, err := kr.Signer(node.SealKeyName)
	if err != nil {
		return nil, fmt.Errorf("ingest: unlock the hospital's %q key: %w", node.SealKeyName, err)
	}
	defer clear(seal)
	c := &custodian{id: o.Hospital, operatorPub: op.PubKey}
	c.sealPriv, c.sealPub = recordcrypto.SealKeyPair([32]byte(seal.Seed()))
	if c.id != "" {
		return c, nil
	}
	conf, err := node.LoadConfig(o.Home, nil)
	if err != nil {
		return nil, fmt.Errorf("ingest: read the config of %s to find the hospital id: %w (or give --hospital)", o.Home, err)
	}
	_, st, err := genesis.Load(conf.Comet.GenesisFile())
	if err != nil {
		return nil, fmt.Errorf("ingest: find the hospital id: %w (or give --hospital)", err)
	}
	for _, h := range st.Hospitals {
		if bytes.Equal(h.OperatorPubKey, op.PubKey) {
			c.id = h.ID
			return c, nil
		}
	}
	return nil, fmt.Errorf("ingest: the genesis has no member whose operator key is %s (a hospital that joined later): give its id with --hospital", op.Address)
}

// patientKeyName is the keyring name of a patient identity: "p-" and the
// first 16 hex digits of the pseudonym; its seal key is the name + "-seal".
func patientKeyName(pseudonym string) string { return "p-" + pseudonym[:16] }

// patientKeys returns the patient identity for a pseudonym from the patient
// keyring, creating the signing key and the seal key that are missing (a
// crash may have left one without the other). created counts new keys.
func patientKeys(kr *keyring.Keyring, pseudonym string) (pub ed25519.PublicKey, sealPub [32]byte, created int, err error) {
	name := patientKeyName(pseudonym)
	k, err := kr.Show(name)
	if errors.Is(err, keyring.ErrKeyNotFound) {
		k, err = importNewKey(kr, name, nil)
		created++
	}
	if err != nil {
		return nil, sealPub, created, fmt.Errorf("ingest: patient key %s: %w", name, err)
	}
	sealName := name + "-seal"
	if _, err = kr.Show(sealName); errors.Is(err, keyring.ErrKeyNotFound) {
		_, err = importNewKey(kr, sealName, &sealPub)
		created++
	} else if err == nil {
		var priv ed25519.PrivateKey
		if priv, err = kr.Signer(sealName); err == nil {
			_, sealPub = recordcrypto.SealKeyPair([32]byte(priv.Seed()))
			clear(priv)
		}
	}
	if err != nil {
		return nil, sealPub, created, fmt.Errorf("ingest: patient key %s: %w", sealName, err)
	}
	return k.PubKey, sealPub, created, nil
}

// importNewKey stores a fresh random key as name; with sealPub set it also
// returns the X25519 public key of its seed.
func importNewKey(kr *keyring.Keyring, name string, sealPub *[32]byte) (keyring.Key, error) {
	var seed [ed25519.SeedSize]byte
	defer clear(seed[:])
	if _, err := rand.Read(seed[:]); err != nil {
		return keyring.Key{}, err
	}
	priv := ed25519.NewKeyFromSeed(seed[:])
	defer clear(priv)
	k, err := kr.ImportPrivate(name, priv)
	if err != nil {
		return k, err
	}
	if sealPub != nil {
		_, *sealPub = recordcrypto.SealKeyPair(seed)
	}
	return k, nil
}
