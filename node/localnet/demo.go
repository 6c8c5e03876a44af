package localnet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/governance"
	"github.com/medchain/medchain/contracts/hekeys"
	"github.com/medchain/medchain/contracts/memo"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/he"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/keyring"
)

// DemoOptions configure RunDemo.
type DemoOptions struct {
	Bin        string // the medchain binary to run validators with
	Dir        string // empty folder for the homes
	Validators int    // at least 4, so one can be killed
	Out        io.Writer
	// Auditor, if set, runs last, on the stopped alliance: an auditor's
	// checks of hospital 0's home against what the demo did
	// (cmd/medchain wires node/audit in; node/audit's tests use this
	// package, so it cannot be imported here). say prints a line of the
	// demo.
	Auditor func(ctx context.Context, home string, did DemoRecord, say func(string, ...any)) error
}

// DemoRecord is what the demo did that an auditor's report of the chain
// must list, no more and no less.
type DemoRecord struct {
	Accesses   int // access entries: reads under a grant and emergency reads
	UnderGrant int
	Emergency  int
	// ClosedReviews: break-glass reads the custodian reviewed.
	ClosedReviews int
	// Denied: txs the contracts denied in blocks (code 16).
	Denied int
	// Queries: research queries on chain (released and refused).
	Queries int
	// Proposals carried out by vote.
	Proposals int
}

// RunDemo tells the story on a real localnet: a 4-hospital alliance
// starts; operators enrol a doctor and a patient; they post signed memos;
// bad txs are refused with their codes; a memo is read back with a
// verified proof; the hospitals encrypt figures under their collective key
// and a researcher decrypts the exact sum; the record-sharing story
// (RecordStory) runs; one validator is killed with SIGKILL while the
// others keep committing, then restarted and caught up; every node's app
// hash is equal at a common height. It returns an error at the first thing
// that fails.
func RunDemo(ctx context.Context, o DemoOptions) (err error) {
	if o.Validators == 0 {
		o.Validators = 4
	}
	if o.Validators < 4 {
		return fmt.Errorf("the demo needs at least 4 validators (it kills one), got %d", o.Validators)
	}
	say := func(format string, a ...any) { fmt.Fprintf(o.Out, format+"\n", a...) }
	say("== medchain demo: a %d-hospital alliance on this machine, in %s", o.Validators, o.Dir)
	m, err := Generate(Options{Dir: o.Dir, Validators: o.Validators, ChainID: "medchain-demo", Researcher: true})
	if err != nil {
		return err
	}
	c := NewCluster(o.Bin, m)
	defer func() {
		if stopErr := c.StopAll(); stopErr != nil && err == nil {
			err = stopErr
		}
		if err != nil {
			err = fmt.Errorf("%w\n(node logs: %s/node*/node.log)", err, m.Dir)
		}
	}()
	if err := c.StartAll(); err != nil {
		return err
	}
	for i := range m.Nodes {
		if _, err := c.WaitHeight(ctx, i, 2); err != nil {
			return err
		}
	}
	say("started %d validators, each its own process; the chain is committing blocks", len(m.Nodes))
	// The hospitals' HE workers run the key ceremony with their operator
	// keys; the story below uses the same keys, so it waits for them.
	if err := c.WaitKeyCeremony(ctx); err != nil {
		return err
	}
	say("the hospitals' workers completed the key ceremony: the alliance has its collective HE key")

	ops := make([]ed25519.PrivateKey, len(m.Nodes))
	for i, n := range m.Nodes {
		kr, err := keyring.Open(node.KeyringDir(n.Home), keyring.BackendTest, nil)
		if err != nil {
			return err
		}
		if ops[i], err = kr.Signer(node.OperatorKeyName); err != nil {
			return err
		}
	}
	cl := make([]*client.Client, len(m.Nodes))
	for i := range m.Nodes {
		if cl[i], err = c.Client(i); err != nil {
			return err
		}
	}
	_, doctor, _ := ed25519.GenerateKey(rand.Reader)
	_, patient, _ := ed25519.GenerateKey(rand.Reader)
	doctorAddr, patientAddr := pb.AddressOf(doctor.Public().(ed25519.PublicKey)), pb.AddressOf(patient.Public().(ed25519.PublicKey))
	const wait = 30 * time.Second

	r, err := cl[0].Send(ctx, ops[0], accounts.TypeRegister, &pb.RegisterAccount{Pubkey: doctor.Public().(ed25519.PublicKey), Role: pb.Role_ROLE_DOCTOR, Label: "cardiology"}, wait)
	if err := okResult(r, err); err != nil {
		return fmt.Errorf("Hospital 0 enrols a doctor: %w", err)
	}
	say("height %d: Hospital 0's operator enrolled doctor %s (tx %s)", r.Height, doctorAddr, short(r.Hash))
	r, err = cl[1].Send(ctx, ops[1], accounts.TypeRegister, &pb.RegisterAccount{Pubkey: patient.Public().(ed25519.PublicKey), Role: pb.Role_ROLE_PATIENT, Label: "outpatient"}, wait)
	if err := okResult(r, err); err != nil {
		return fmt.Errorf("Hospital 1 enrols a patient: %w", err)
	}
	say("height %d: Hospital 1's operator enrolled patient %s", r.Height, patientAddr)
	r, err = cl[2].Send(ctx, doctor, memo.TypePost, &pb.PostMemo{Text: "on call for cardiology this week"}, wait)
	if err := okResult(r, err); err != nil {
		return fmt.Errorf("the doctor posts a memo: %w", err)
	}
	memoHeight := r.Height
	say("height %d: the doctor posted a signed memo through Hospital 2's node", r.Height)
	r, err = cl[3].Send(ctx, patient, memo.TypePost, &pb.PostMemo{Text: "hello from a patient"}, wait)
	if err := okResult(r, err); err != nil {
		return fmt.Errorf("the patient posts a memo: %w", err)
	}
	say("height %d: the patient posted a signed memo through Hospital 3's node", r.Height)

	// Bad txs: each refused with its own code, nothing changes.
	replay, _ := tx.Build(doctor, m.ChainID, doctorAddr, 0, memo.TypePost, &pb.PostMemo{Text: "same nonce again"})
	wrongChain, _ := tx.Build(doctor, "another-chain", doctorAddr, 1, memo.TypePost, &pb.PostMemo{Text: "wrong chain"})
	forged, _ := tx.Build(patient, m.ChainID, doctorAddr, 1, memo.TypePost, &pb.PostMemo{Text: "signed by someone else"})
	byPatient, _ := tx.Build(patient, m.ChainID, patientAddr, 1, accounts.TypeRegister, &pb.RegisterAccount{Pubkey: doctor.Public().(ed25519.PublicKey), Role: pb.Role_ROLE_DOCTOR, Label: "x"})
	for _, bad := range []struct {
		what string
		raw  []byte
		code uint32
	}{
		{"a replayed nonce", replay, 6},
		{"a tx for another chain", wrongChain, 4},
		{"a tx signed with the wrong key", forged, 3},
		{"a patient trying to enrol a doctor", byPatient, 10},
		{"garbage bytes", []byte("not a transaction"), 1},
	} {
		_, err := cl[0].BroadcastAndWait(ctx, bad.raw, wait)
		var ce *client.CodeError
		if !errors.As(err, &ce) || ce.Code != bad.code {
			return fmt.Errorf("%s: want refusal code %d, got %v", bad.what, bad.code, err)
		}
		say("refused %s: code %d, %s", bad.what, ce.Code, ce.Log)
	}

	q, err := cl[1].Query(ctx, fmt.Sprintf("/memo/%s/0", doctorAddr), 0, true)
	if err != nil {
		return fmt.Errorf("read the doctor's memo with a proof: %w", err)
	}
	var mm pb.Memo
	if q.Value == nil || tx.Unmarshal(q.Value, &mm) != nil || mm.Text != "on call for cardiology this week" || mm.Height != memoHeight {
		return fmt.Errorf("the doctor's memo read back wrong: %x", q.Value)
	}
	say("read the doctor's memo from Hospital 1's node at height %d: proof verified against app hash %X", q.Height, q.AppHash)

	if err := encryptedSum(ctx, cl, ops, m, say); err != nil {
		return fmt.Errorf("encrypted sum across hospitals: %w", err)
	}

	indent := func(format string, a ...any) { say("  "+format, a...) }
	say("-- the hospitals import their patients (synthetic FHIR R4) through the phased relay")
	cohort := filepath.Join(m.Dir, "cohort")
	if err := ImportCohort(ctx, c, ImportOptions{Bin: o.Bin, Dir: cohort, Patients: 100, Seed: 2026, Say: indent}); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	say("-- encrypted research across the hospitals, under the alliance's privacy rules")
	rr, err := ResearchStory(ctx, c, ResearchOptions{CohortDir: cohort, Say: indent})
	if err != nil {
		return fmt.Errorf("research: %w", err)
	}
	say("-- record sharing: patients, encrypted records, grants, consultation, break-glass, revocation, erasure")
	sr, err := RecordStory(ctx, c, StoryOptions{Bin: o.Bin, CohortDir: cohort, Say: indent})
	if err != nil {
		return fmt.Errorf("record sharing: %w", err)
	}
	say("-- governance: the members vote to register an auditor")
	if err := registerAuditor(ctx, cl, ops, indent); err != nil {
		return fmt.Errorf("governance: %w", err)
	}
	did := DemoRecord{
		Accesses: len(sr.Accesses), UnderGrant: len(sr.Accesses) - 1, Emergency: 1, ClosedReviews: 1,
		Denied: len(sr.Refusals) + rr.Denied, Queries: len(rr.Released) + 1, Proposals: 1,
	}

	// Fault: kill -9 one validator; 3 of 4 keep committing.
	victim := len(m.Nodes) - 1
	if err := c.Kill(victim); err != nil {
		return err
	}
	say("killed Hospital %d's validator with SIGKILL", victim)
	var lastHeight int64
	for k := 0; k < 3; k++ {
		r, err = cl[0].Send(ctx, doctor, memo.TypePost, &pb.PostMemo{Text: fmt.Sprintf("note %d while a validator is down", k)}, wait)
		if err := okResult(r, err); err != nil {
			return fmt.Errorf("commit with one validator down: %w", err)
		}
		lastHeight = r.Height
	}
	say("the other %d kept committing: 3 more memos, up to height %d", len(m.Nodes)-1, lastHeight)
	if err := c.Start(victim); err != nil {
		return err
	}
	if _, err := c.WaitHeight(ctx, victim, lastHeight+1); err != nil {
		return err
	}
	say("restarted Hospital %d's validator; it caught up past height %d", victim, lastHeight)
	if err := checkSameState(ctx, c, cl, memoHeight, say); err != nil {
		return err
	}
	// The restarted node serves the memo committed before the kill.
	q, err = cl[victim].Query(ctx, fmt.Sprintf("/memo/%s/0", doctorAddr), 0, true)
	if err != nil || q.Value == nil {
		return fmt.Errorf("restarted node: memo committed before the kill is missing: %v", err)
	}
	if err := c.StopAll(); err != nil {
		return fmt.Errorf("clean shutdown: %w", err)
	}
	say("stopped every validator cleanly (SIGTERM)")
	if o.Auditor != nil {
		say("-- an auditor checks the chain from a copy of Hospital 0's home")
		if err := o.Auditor(ctx, m.Nodes[0].Home, did, say); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	say("== demo finished: all checks passed")
	return nil
}

// registerAuditor has hospital 0's operator propose an auditor account
// and hospitals 1 and 2 vote yes: 3 of 4 members is more than two thirds,
// so the third vote carries it out in its block.
func registerAuditor(ctx context.Context, cl []*client.Client, ops []ed25519.PrivateKey, say func(string, ...any)) error {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	r, err := cl[0].Send(ctx, ops[0], governance.TypePropose, &pb.Propose{Action: &pb.Propose_RegisterAccount{RegisterAccount: &pb.RegisterAllianceAccount{
		Role: pb.Role_ROLE_AUDITOR, Pubkey: pub, Label: "external auditor"}}}, 30*time.Second)
	if err := okResult(r, err); err != nil {
		return fmt.Errorf("propose: %w", err)
	}
	var id uint64
	for _, e := range r.Events {
		if e.Type == governance.EventProposed {
			id, _ = strconv.ParseUint(e.Attrs["id"], 10, 64)
		}
	}
	if id == 0 {
		return errors.New("no gov.proposed event names the proposal")
	}
	say("height %d: Hospital 0 proposed registering an auditor (proposal %d); its proposal counts as its yes", r.Height, id)
	for i := 1; i <= 2; i++ {
		r, err := cl[i].Send(ctx, ops[i], governance.TypeVote, &pb.Vote{Proposal: id, Yes: true}, 30*time.Second)
		if err := okResult(r, err); err != nil {
			return fmt.Errorf("vote of hospital %d: %w", i, err)
		}
		say("height %d: Hospital %d voted yes", r.Height, i)
	}
	var p pb.Proposal
	if err := queryInto(ctx, cl[0], fmt.Sprintf("/gov/proposal/%d", id), &p); err != nil {
		return err
	}
	if p.Status != pb.Proposal_STATUS_EXECUTED {
		return fmt.Errorf("proposal %d is %s after 3 of 4 yes votes, want executed", id, p.Status)
	}
	say("proposal %d passed with 3 of 4 members (more than two thirds) and was carried out: the auditor %s is registered", id, pb.AddressOf(pub))
	return nil
}

// checkSameState compares, at the highest height every node has, the app
// hash each node's own store computed and the header app hash.
func checkSameState(ctx context.Context, c *Cluster, cl []*client.Client, also int64, say func(string, ...any)) error {
	h := int64(-1)
	for _, x := range cl {
		st, err := x.Status(ctx)
		if err != nil {
			return err
		}
		if h < 0 || st.SyncInfo.LatestBlockHeight < h {
			h = st.SyncInfo.LatestBlockHeight
		}
	}
	h-- // header h+1 must exist everywhere
	nodes := make([]int, len(cl))
	for i := range nodes {
		nodes[i] = i
	}
	for _, height := range []int64{also, h} {
		app, hdr, err := c.AppHashes(ctx, nodes, height)
		if err != nil {
			return err
		}
		for i := range nodes {
			if !bytes.Equal(app[i], app[0]) || !bytes.Equal(hdr[i], app[0]) {
				return fmt.Errorf("APP HASH MISMATCH at height %d: node 0 has %X, node %d has %X (header %X)", height, app[0], i, app[i], hdr[i])
			}
		}
		say("height %d: all %d nodes computed the same app hash %X", height, len(nodes), app[0])
	}
	return nil
}

func okResult(r *client.Result, err error) error {
	if err != nil {
		return err
	}
	if r.Code != 0 {
		return fmt.Errorf("refused in block %d: %s", r.Height, r.Log)
	}
	return nil
}

func short(h []byte) string { return fmt.Sprintf("%X", h[:6]) }

// encryptedSum: every hospital encrypts its own figures under the
// collective key and posts them; a researcher asks for the sum; t of the
// hospitals' workers key-switch it to the researcher, who alone decrypts it.
func encryptedSum(ctx context.Context, cl []*client.Client, ops []ed25519.PrivateKey, m *Manifest, say func(string, ...any)) error {
	kr, err := keyring.Open(node.KeyringDir(m.Nodes[0].Home), keyring.BackendTest, nil)
	if err != nil {
		return err
	}
	researcher, err := kr.Signer(ResearcherKeyName)
	if err != nil {
		return err
	}
	var params pb.Params
	var ep pb.KeyEpoch
	for _, q := range []struct {
		path string
		m    proto.Message
	}{{"/params", &params}, {"/he/epoch/1", &ep}} {
		r, err := cl[0].Query(ctx, q.path, 0, false)
		if err != nil {
			return err
		}
		if err := tx.Unmarshal(r.Value, q.m); err != nil {
			return fmt.Errorf("%s: %w", q.path, err)
		}
	}
	p, err := he.NewParams(he.ParamsLiteral{LogN: int(params.He.LogN), Q: params.He.Q, T: params.He.T})
	if err != nil {
		return err
	}
	pkq, err := cl[0].Query(ctx, "/blob/"+hex.EncodeToString(ep.PublicKeyHash), 0, false)
	if err != nil {
		return err
	}
	const wait = 60 * time.Second
	var hashes [][]byte
	sum := make([]int64, 3)
	for i := range cl {
		// Each hospital's own figures: patients with E11, their HbA1c sum (x100), a signed change.
		v := []int64{int64(120 + 17*i), int64(91_000 + 2_345*i), int64(-40 + 25*i)}
		ct, err := p.EncodeEncrypt(pkq.Value, v)
		if err != nil {
			return err
		}
		r, err := cl[i].Send(ctx, ops[i], hekeys.TypeSubmit, &pb.SubmitCiphertext{Epoch: 1, Ciphertext: ct, Label: "demo figures"}, wait)
		if err := okResult(r, err); err != nil {
			return err
		}
		hashes = append(hashes, tx.Hash(ct))
		for k := range sum {
			sum[k] += v[k]
		}
	}
	say("each hospital encrypted its own figures under the collective key (%d KB each) and posted them", p.CiphertextSize()/1000)
	priv, pub, err := p.GenResearcherKey()
	if err != nil {
		return err
	}
	r, err := cl[0].Send(ctx, researcher, hekeys.TypeRequest, &pb.RequestDecryption{CiphertextHashes: hashes, ResearcherKey: pub}, wait)
	if err := okResult(r, err); err != nil {
		return err
	}
	var id uint64
	for _, e := range r.Events {
		if e.Type == hekeys.EventRequestCreated {
			id, _ = strconv.ParseUint(e.Attrs["id"], 10, 64)
		}
	}
	var req pb.DecryptionRequest
	for {
		q, err := cl[0].Query(ctx, fmt.Sprintf("/he/request/%d", id), 0, false)
		if err != nil {
			return err
		}
		if err := tx.Unmarshal(q.Value, &req); err != nil {
			return err
		}
		if req.Status != pb.DecryptionRequest_STATUS_PENDING {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("request %d still pending: %w", id, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	if req.Status != pb.DecryptionRequest_STATUS_DONE {
		return fmt.Errorf("request %d %s: %s", id, req.Status, req.Reason)
	}
	res, err := cl[0].Query(ctx, "/blob/"+hex.EncodeToString(req.ResultHash), 0, false)
	if err != nil {
		return err
	}
	got, err := p.Decrypt(priv, res.Value)
	if err != nil {
		return err
	}
	if !slices.Equal(got[:len(sum)], sum) {
		return fmt.Errorf("the researcher decrypted %v, the true sum is %v", got[:len(sum)], sum)
	}
	say("a researcher asked for the sum; hospitals %v key-switched it (t = %d of %d) and only the researcher decrypted it: %v = the exact sum",
		req.ActiveSet, ep.Threshold, len(ep.Members), got[:len(sum)])
	return nil
}
