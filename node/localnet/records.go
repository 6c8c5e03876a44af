package localnet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/fhir"
	"github.com/medchain/medchain/node/gateway"
	"github.com/medchain/medchain/node/ingest"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/sharing"
	"github.com/medchain/medchain/node/synth"
	"github.com/medchain/medchain/node/vault"
)

// StoryOptions configure RecordStory.
type StoryOptions struct {
	Bin string // the medchain binary (for `medchain ingest`)
	// Patients per hospital in the synthetic cohort (default 12).
	Patients int
	Seed     int64
	// Prepare, if set, runs on the written cohort folder before the
	// hospitals import it (tests plant identity strings there).
	Prepare func(cohortDir string) error
	// CohortDir, if set, is a cohort ImportCohort already imported.
	CohortDir string
	Say       func(format string, a ...any)
}

// ImportOptions configure ImportCohort.
type ImportOptions struct {
	Bin      string // the medchain binary
	Dir      string // where to write the cohort (empty or absent)
	Patients int    // per hospital
	Seed     int64
	// Prepare, if set, runs on the written cohort before the import.
	Prepare func(cohortDir string) error
	// Parallel has the hospitals import at the same time instead of one
	// after the other (a person seen at two hospitals is then enrolled by
	// whichever push lands first and linked by the other).
	Parallel bool
	Say      func(format string, a ...any)
}

// ImportCohort writes a synthetic FHIR R4 cohort (node/synth, with its
// truth.json) for the localnet's hospitals and has each hospital import
// its export with `medchain ingest --phased`: no identity field leaves the
// hospital, records are encrypted into each vault and registered on chain.
func ImportCohort(ctx context.Context, c *Cluster, o ImportOptions) error {
	m := c.Manifest
	d, err := synth.Generate(synth.Options{Hospitals: len(m.Nodes), Patients: o.Patients, Seed: o.Seed})
	if err != nil {
		return err
	}
	sum, err := d.Write(o.Dir)
	if err != nil {
		return err
	}
	o.Say("wrote a synthetic FHIR R4 cohort: %d hospitals × %d patients, %d files", len(m.Nodes), o.Patients, len(sum.Files))
	if o.Prepare != nil {
		if err := o.Prepare(o.Dir); err != nil {
			return err
		}
	}
	one := func(i int, n NodeInfo) error {
		t0 := time.Now()
		if err := ImportHospital(ctx, o.Bin, n, filepath.Join(o.Dir, fmt.Sprintf("hospital%d", i))); err != nil {
			return err
		}
		o.Say("hospital %s imported its export with `medchain ingest --phased` (read phase, source closed, then push phase) in %s", n.HospitalID, time.Since(t0).Round(time.Second))
		return nil
	}
	if !o.Parallel {
		for i, n := range m.Nodes {
			if err := one(i, n); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, len(m.Nodes))
	var wg sync.WaitGroup
	for i, n := range m.Nodes {
		wg.Go(func() { errs[i] = one(i, n) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ImportHospital has node n's hospital import the FHIR export in src with
// `medchain ingest --phased` through n's own RPC.
func ImportHospital(ctx context.Context, bin string, n NodeInfo, src string) error {
	cmd := exec.CommandContext(ctx, bin, "ingest", "--home", n.Home, "--fhir", src, "--phased", "--hospital", n.HospitalID,
		"--keyring-backend", keyring.BackendTest, "--node", n.RPC, "-o", "json")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("hospital %s: medchain ingest: %v\n%s", n.HospitalID, err, tail(errOut.Bytes(), 2000))
	}
	return nil
}

// StoryResult is what RecordStory did, for tests to check against the
// chain and the nodes' files.
type StoryResult struct {
	CohortDir string
	Patient   string   // the pseudonym of the story's patient
	Records   []string // the two records of the story (the second is erased)
	Accesses  []uint64 // access entries written: A, B, D (break-glass)
	// Refusals are the refused access attempts, as the chain logged them.
	Refusals []*sharing.Refusal
	Imported int // records registered by the four hospitals
}

// RecordStory tells the record-sharing story on a running localnet whose
// nodes have finished the key ceremony: the four hospitals import a
// synthetic cohort with `medchain ingest --phased`; a patient of hospital 0
// grants doctor A (hospital 1) two records; A reads one through the
// custodian's gateway and forwards the grant to B (hospital 2) for a
// consultation, who reads it too; doctor C (hospital 3) is refused; doctor
// D (hospital 3, emergency duty) breaks the glass and is flagged, and the
// custodian closes the review; the patient revokes, and B is refused; the
// patient erases a record, the custodian's vault shreds it and the gateway
// answers "gone"; the access log shows every read. Every outcome is
// checked; the first that differs is the error.
func RecordStory(ctx context.Context, c *Cluster, o StoryOptions) (res *StoryResult, err error) {
	if len(c.Manifest.Nodes) < 4 {
		return nil, fmt.Errorf("the record story needs 4 hospitals, the localnet has %d", len(c.Manifest.Nodes))
	}
	if o.Patients == 0 {
		o.Patients = 12
	}
	if o.Seed == 0 {
		o.Seed = 2026
	}
	say := o.Say
	if say == nil {
		say = func(string, ...any) {}
	}
	m := c.Manifest
	res = &StoryResult{CohortDir: filepath.Join(m.Dir, "cohort")}
	cl := make([]*client.Client, len(m.Nodes))
	ops := make([]ed25519.PrivateKey, len(m.Nodes))
	for i, n := range m.Nodes {
		if cl[i], err = c.Client(i); err != nil {
			return nil, err
		}
		kr, err := keyring.Open(node.KeyringDir(n.Home), keyring.BackendTest, nil)
		if err != nil {
			return nil, err
		}
		if ops[i], err = kr.Signer(node.OperatorKeyName); err != nil {
			return nil, err
		}
	}
	sc := make([]*sharing.Client, len(m.Nodes))
	for i := range m.Nodes {
		if sc[i], err = sharing.New(ctx, cl[i], sharing.HTTPSGateway); err != nil {
			return nil, err
		}
	}

	// Every node publishes its gateway (URL and certificate fingerprint)
	// on chain at start; clients pin what the chain says.
	for i, n := range m.Nodes {
		for {
			gw, err := sc[0].GatewayOf(ctx, n.HospitalID)
			if err == nil && gw != nil && gw.Url != "" {
				if i == 0 {
					say("every hospital published its gateway on chain, e.g. %s at %s (certificate sha256 %x…)", gw.Hospital, gw.Url, gw.CertSha256[:6])
				}
				break
			}
			if err := sleep(ctx, 300*time.Millisecond); err != nil {
				return nil, fmt.Errorf("hospital %s's gateway never appeared on chain: %w", n.HospitalID, err)
			}
		}
	}

	// 1. A synthetic cohort, imported by each hospital through the phased
	// relay (unless the caller imported one already).
	if o.CohortDir != "" {
		res.CohortDir = o.CohortDir
	} else if err := ImportCohort(ctx, c, ImportOptions{Bin: o.Bin, Dir: res.CohortDir, Patients: o.Patients, Seed: o.Seed, Prepare: o.Prepare, Say: say}); err != nil {
		return nil, err
	}

	// The story's patient: hospital 0 derives its pseudonym from the
	// identity fields, as the relay did; the relay made the patient's keys.
	pseudonym, key, err := firstPatient(m.Nodes[0].Home, filepath.Join(res.CohortDir, "hospital0"))
	if err != nil {
		return nil, err
	}
	res.Patient = pseudonym
	pkr, err := keyring.Open(ingest.DefaultPatientKeyringDir(m.Nodes[0].Home), keyring.BackendTest, nil)
	if err != nil {
		return nil, err
	}
	patient, err := sharing.LoadIdentity(pkr, key)
	if err != nil {
		return nil, fmt.Errorf("the patient's keys from the relay: %w", err)
	}
	recs, err := sc[0].ListRecords(ctx, pseudonym)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if r.Custodian == m.Nodes[0].HospitalID && !r.Erased && len(res.Records) < 2 {
			res.Records = append(res.Records, r.Id)
		}
	}
	if len(res.Records) < 2 {
		return nil, fmt.Errorf("patient %s… has %d records at %s, the story needs 2", pseudonym[:12], len(res.Records), m.Nodes[0].HospitalID)
	}
	say("patient %s… lists %d records about it across the alliance (by pseudonym only)", pseudonym[:12], len(recs))

	// 2. Doctors: A (hospital 1), B (hospital 2), C and D (hospital 3, D
	// with the emergency duty).
	people, err := keyring.Open(filepath.Join(m.Dir, "people"), keyring.BackendTest, nil)
	if err != nil {
		return nil, err
	}
	enrol := func(name string, hosp int, emergency bool) (*sharing.Identity, error) {
		id, _, err := sharing.LoadOrCreateIdentity(people, name)
		if err != nil {
			return nil, err
		}
		if _, err := sc[hosp].EnrolDoctor(ctx, ops[hosp], sharing.DoctorEnrolment{
			Pub: id.Public(), SealPub: id.SealPub, Label: name, Emergency: emergency,
		}); err != nil {
			return nil, fmt.Errorf("%s enrols %s: %w", m.Nodes[hosp].HospitalID, name, err)
		}
		return id, nil
	}
	a, err := enrol("doctor-a", 1, false)
	if err != nil {
		return nil, err
	}
	b, err := enrol("doctor-b", 2, false)
	if err != nil {
		return nil, err
	}
	cDoc, err := enrol("doctor-c", 3, false)
	if err != nil {
		return nil, err
	}
	dDoc, err := enrol("doctor-d", 3, true)
	if err != nil {
		return nil, err
	}
	say("hospitals enrolled doctors A (%s), B (%s), C and D (%s, D on emergency duty)", m.Nodes[1].HospitalID, m.Nodes[2].HospitalID, m.Nodes[3].HospitalID)

	// 3. The patient grants A both records, forwardable, for treatment and
	// consultation.
	h, err := sc[0].Height(ctx)
	if err != nil {
		return nil, err
	}
	treat, consult := pb.Purpose_PURPOSE_TREATMENT, pb.Purpose_PURPOSE_CONSULTATION
	grant, err := sc[0].CreateGrant(ctx, patient, sharing.GrantRequest{
		Grantee: a.Address(), Scope: sharing.Scope{RecordIDs: res.Records},
		Purposes: []pb.Purpose{treat, consult}, ExpiryHeight: h + 10_000, Forwardable: true,
	})
	if err != nil {
		return nil, fmt.Errorf("the patient grants A: %w", err)
	}
	say("the patient granted A records %s… and %s… (grant %d, forwardable, data keys resealed to A)", res.Records[0][:10], res.Records[1][:10], grant)

	read := func(who string, doc *sharing.Identity, via int, grant uint64, purpose pb.Purpose, rec string) (uint64, error) {
		acc, err := sc[via].RequestAccess(ctx, doc, rec, grant, purpose)
		if err != nil {
			return 0, fmt.Errorf("%s's access request: %w", who, err)
		}
		plain, r, err := sc[via].Fetch(ctx, doc, acc)
		if err != nil {
			return 0, fmt.Errorf("%s fetches record %s…: %w", who, rec[:10], err)
		}
		if err := checkPlaintext(plain, r); err != nil {
			return 0, fmt.Errorf("%s's plaintext: %w", who, err)
		}
		res.Accesses = append(res.Accesses, acc)
		return acc, nil
	}
	acc, err := read("A", a, 1, grant, treat, res.Records[0])
	if err != nil {
		return nil, err
	}
	say("A's access request became entry %d; the custodian's gateway served the ciphertext over pinned TLS 1.3, and A decrypted it", acc)

	// 4. A forwards to B for a consultation; B reads.
	fwd, err := sc[1].ForwardGrant(ctx, a, sharing.ForwardRequest{Parent: grant, Grantee: b.Address(), Purposes: []pb.Purpose{consult}})
	if err != nil {
		return nil, fmt.Errorf("A forwards to B: %w", err)
	}
	if acc, err = read("B", b, 2, fwd, consult, res.Records[0]); err != nil {
		return nil, err
	}
	say("A forwarded the grant to B (grant %d, consultation); B read the record (entry %d)", fwd, acc)

	refused := func(what, reason string, err error) error {
		var r *sharing.Refusal
		if !errors.As(err, &r) || sharing.CodeName(err) != "denied" || !strings.Contains(r.Err.Log, reason) {
			return fmt.Errorf("%s: want a %q denial in a block, got %v", what, reason, err)
		}
		res.Refusals = append(res.Refusals, r)
		say("refused: %s — block %d, code %d: %s", what, r.Height, r.Err.Code, r.Err.Log)
		return nil
	}
	// 5. C has no grant.
	_, err = sc[3].RequestAccess(ctx, cDoc, res.Records[0], grant, treat)
	if err := refused("C reads under A's grant", "not_grantee", err); err != nil {
		return nil, err
	}
	_, err = sc[3].RequestAccess(ctx, cDoc, res.Records[0], 0, treat)
	if err := refused("C reads without a grant", "no_grant", err); err != nil {
		return nil, err
	}

	// 6. D breaks the glass on the second record; the entry is flagged
	// until the custodian reviews it.
	bg, err := sc[3].BreakGlass(ctx, dDoc, res.Records[1], "unconscious on arrival, allergy history needed")
	if err != nil {
		return nil, fmt.Errorf("D breaks the glass: %w", err)
	}
	plain, r, err := sc[3].Fetch(ctx, dDoc, bg)
	if err != nil {
		return nil, fmt.Errorf("D fetches after breaking the glass: %w", err)
	}
	if err := checkPlaintext(plain, r); err != nil {
		return nil, err
	}
	res.Accesses = append(res.Accesses, bg)
	open, err := sc[0].OpenReviews(ctx, m.Nodes[0].HospitalID)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(open, func(e *pb.AccessEntry) bool { return e.Id == bg }) {
		return nil, fmt.Errorf("break-glass entry %d is not flagged for %s's review", bg, m.Nodes[0].HospitalID)
	}
	say("D broke the glass (entry %d, flagged for review); the gateway sealed the data key to D at serve time and D decrypted", bg)
	if err := sc[0].Review(ctx, ops[0], bg, pb.Finding_FINDING_JUSTIFIED, "emergency admission confirmed"); err != nil {
		return nil, fmt.Errorf("the custodian reviews: %w", err)
	}
	if open, err = sc[0].OpenReviews(ctx, m.Nodes[0].HospitalID); err != nil || slices.ContainsFunc(open, func(e *pb.AccessEntry) bool { return e.Id == bg }) {
		return nil, fmt.Errorf("break-glass entry %d still open after review (%v)", bg, err)
	}
	say("the custodian's operator closed the review: justified")

	// 7. The patient revokes the root grant: the forward below it dies too.
	if err := sc[0].RevokeGrant(ctx, patient, grant); err != nil {
		return nil, fmt.Errorf("the patient revokes: %w", err)
	}
	say("the patient revoked grant %d", grant)
	_, err = sc[2].RequestAccess(ctx, b, res.Records[0], fwd, consult)
	if err := refused("B reads under the forward of a revoked grant", "revoked", err); err != nil {
		return nil, err
	}

	// 8. The patient erases the second record: the custodian shreds it
	// and its gateway answers "gone", even to D's committed entry.
	if err := sc[0].Erase(ctx, patient.Sign, res.Records[1]); err != nil {
		return nil, fmt.Errorf("the patient erases: %w", err)
	}
	if _, _, err := sc[3].Fetch(ctx, dDoc, bg); err == nil || !strings.Contains(err.Error(), "erased") {
		return nil, fmt.Errorf("D's client fetching an erased record: want a refusal naming the erasure, got %v", err)
	}
	gw, err := sc[3].GatewayOf(ctx, m.Nodes[0].HospitalID)
	if err != nil {
		return nil, err
	}
	for {
		// Asked directly, with D's committed entry: the custodian's gateway.
		_, err := sharing.HTTPSGateway(ctx, sharing.GatewayRequest{
			URL: gw.Url, CertSHA256: gw.CertSha256, HospitalID: gw.Hospital, ChainID: m.ChainID,
			AccessID: bg, RecordID: res.Records[1], Doctor: dDoc.Sign,
		})
		var se *gateway.ServerError
		if errors.As(err, &se) && se.Status == 410 {
			say("the patient erased record %s…; the custodian's vault shredded it and its gateway answers %d %s, even to D's committed entry", res.Records[1][:10], se.Status, se.Code)
			break
		}
		if err == nil {
			// The shredder runs each block; until then the entry is served.
			if err := sleep(ctx, 500*time.Millisecond); err != nil {
				return nil, errors.New("the erased record is still served")
			}
			continue
		}
		return nil, fmt.Errorf("gateway fetch of an erased record: want 410 gone, got %w", err)
	}
	if r, err := sc[0].Record(ctx, res.Records[1]); err != nil || !r.Erased || len(r.SealedKeyPatient) != 0 {
		return nil, fmt.Errorf("the erased record on chain: %+v, %v", r, err)
	}

	// 9. The access log, from any member's node, with proofs.
	for _, rec := range res.Records {
		log, err := sc[2].Accesses(ctx, rec)
		if err != nil {
			return nil, err
		}
		for _, e := range log {
			how := fmt.Sprintf("grant %d", e.Grant)
			if e.BreakGlass {
				how = fmt.Sprintf("break-glass (%q; review %s)", e.Reason, e.Review.GetFinding())
			}
			say("  access log %s…: entry %d at height %d: %s of %s read it for %s under %s", rec[:10], e.Id, e.Height, e.Doctor, e.DoctorHospital, e.Purpose, how)
		}
	}
	for _, r := range res.Refusals {
		say("  refused attempt in block %d (tx %s): %s", r.Height, r.Hash, r.Err.Log)
	}
	res.Imported = len(recs)
	return res, nil
}

// firstPatient reads a hospital's export and returns the pseudonym of its
// first patient (the relay's derivation, with the home's pepper) and the
// name of the keys the relay made for it.
func firstPatient(home, dir string) (pseudonym, keyName string, err error) {
	pepper, err := vault.LoadPepper(home)
	if err != nil {
		return "", "", err
	}
	set, err := fhir.ReadFile(filepath.Join(dir, "patients.ndjson"), fhir.Limits{})
	if err != nil {
		return "", "", err
	}
	p := set.Patients[0]
	pseudonym, err = fhir.Pseudonym(pepper, fhir.IdentityOf(p), ingest.DefaultIdentity)
	if err != nil {
		return "", "", err
	}
	return pseudonym, "p-" + pseudonym[:16], nil
}

// checkPlaintext checks that a decrypted record is a FHIR bundle of the
// resource the chain registered.
func checkPlaintext(plain []byte, r *pb.Record) error {
	set, err := fhir.ReadBundle(bytes.NewReader(plain), fhir.Limits{})
	if err != nil {
		return fmt.Errorf("record %s… does not decrypt to FHIR: %w", r.Id[:10], err)
	}
	if set.Len() != 1 {
		return fmt.Errorf("record %s… holds %d resources, want 1", r.Id[:10], set.Len())
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// tail returns the last n bytes of b, for error messages.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
