package ingest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci"
	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/chainrpc"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/recordcrypto"
)

// PushSummary is what a push phase did.
type PushSummary struct {
	Hospital string `json:"hospital"`
	// PatientsEnrolled were enrolled for the first time on the chain;
	// PatientsLinked were enrolled by another hospital first and are now
	// linked to this one; PatientsAlready were found enrolled here.
	PatientsEnrolled int `json:"patients_enrolled"`
	PatientsLinked   int `json:"patients_linked"`
	PatientsAlready  int `json:"patients_already"`
	// RecordsRegistered are new on chain, RecordsResealed of them with the
	// patient copy sealed again to a key enrolled by another hospital;
	// RecordsAlready were found registered.
	RecordsRegistered int `json:"records_registered"`
	RecordsResealed   int `json:"records_resealed"`
	RecordsAlready    int `json:"records_already"`
	// Txs were accepted into the mempool, in Batches waits for a commit.
	Txs     int   `json:"txs"`
	Batches int   `json:"batches"`
	Height  int64 `json:"height"`
}

// Limits of the push loop.
const (
	// maxDeliverFailures: an item refused in a block this many times (after
	// re-reading chain state each time) stops the push with its log.
	maxDeliverFailures = 3
	// maxStalls: passes in a row that commit nothing stop the push.
	maxStalls = 10
	pollEvery = 50 * time.Millisecond
)

// Push is the push phase: it reads the spool (which must end with a
// finished read run), checks that this home's operator runs the spool's
// hospital on this chain, and sends patient.enrol and record.register for
// everything chain state does not already hold, many txs per block, with
// consecutive nonces. Committed items are appended (fsync'd) to
// pushed.jsonl. It never reads the FHIR source. After a crash, running it
// again sends only what is still missing.
func Push(ctx context.Context, o Options, chain Chain) (*PushSummary, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	hook, err := crashHookFromEnv()
	if err != nil {
		return nil, err
	}
	sp, err := openSpool(o.SpoolDir, false)
	if err != nil {
		return nil, err
	}
	defer sp.close()
	switch {
	case sp.header == nil:
		return nil, fmt.Errorf("%w: %s is empty: run the read phase first (medchain ingest --phase read)", ErrSpool, o.SpoolDir)
	case !sp.ended:
		return nil, fmt.Errorf("%w: the last read phase into %s did not finish (a crash?): run the read phase again (medchain ingest --phase read); it resumes where it stopped", ErrSpool, o.SpoolDir)
	}
	kr, err := openHomeKeyring(o)
	if err != nil {
		return nil, err
	}
	op, err := kr.Signer(node.OperatorKeyName)
	if err != nil {
		return nil, fmt.Errorf("ingest: unlock the hospital's %q key: %w", node.OperatorKeyName, err)
	}
	defer clear(op)
	p := &pusher{
		o: o, chain: retryingReads{chain, time.Second}, sp: sp, kr: kr, op: op, addr: pb.AddressOf(op.Public().(ed25519.PublicKey)),
		hospital: sp.header.Hospital, hook: hook, sum: &PushSummary{Hospital: sp.header.Hospital},
		failures: map[string]int{}, alone: map[string]bool{},
	}
	defer p.wipe()
	if err := p.checkMember(ctx); err != nil {
		return nil, err
	}
	if err := p.spotCheck(ctx); err != nil {
		return nil, err
	}
	p.progress, err = openAppender(sp.path(PushedFile), sp.pushedSize)
	if err != nil {
		return nil, err
	}
	defer p.progress.Close()
	if err := p.run(ctx); err != nil {
		// What was committed so far is recorded; the error says what stopped.
		if serr := p.progress.Sync(); serr != nil {
			return nil, errors.Join(err, serr)
		}
		return nil, err
	}
	if err := p.progress.Sync(); err != nil {
		return nil, err
	}
	o.Logger.Info("ingest: push phase done", "hospital", p.hospital, "enrolled", p.sum.PatientsEnrolled, "linked", p.sum.PatientsLinked,
		"registered", p.sum.RecordsRegistered, "already", p.sum.RecordsAlready, "txs", p.sum.Txs, "height", p.sum.Height)
	return p.sum, nil
}

// pusher is one run of the push phase.
type pusher struct {
	o        Options
	chain    Chain
	sp       *spool
	kr       *keyring.Keyring
	op       ed25519.PrivateKey
	addr     string
	chainID  string
	hospital string
	progress *appender
	hook     *crashHook
	sum      *PushSummary

	sealPriv *[32]byte // the hospital's seal key, unlocked when first needed
	failures map[string]int
	// alone: the steps of a batch tx refused in a block, which from then
	// on travel alone so one bad step cannot hold back the others (the
	// rest keep travelling in batches).
	alone    map[string]bool
	splitNow bool   // a batch tx was refused in this pass
	done     int    // items recorded committed in this run
	problem  string // the last reason a pass did not finish, for errors
}

func (p *pusher) wipe() {
	if p.sealPriv != nil {
		clear(p.sealPriv[:])
	}
}

// pendingTx is one tx to send for one spool item.
type pendingTx struct {
	item     string // patientItem or recordItem
	kind     string // "enrol", "link" or "register"
	typ      string
	msg      proto.Message
	resealed bool
}

// checkMember checks that the spool's hospital is a member of this chain
// whose operator is this home's operator key, with the seal key the spool's
// custodian copies are sealed to.
func (p *pusher) checkMember(ctx context.Context) error {
	st, err := p.chain.Status(ctx)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	p.chainID, p.sum.Height = st.ChainID, st.Height
	list, err := chainrpc.QueryMessage[pb.HospitalList](ctx, p.chain, hospitalsPath)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	var h *pb.Hospital
	if list != nil {
		for _, x := range list.Hospitals {
			if x.Id == p.hospital {
				h = x
			}
		}
	}
	switch {
	case h == nil:
		return fmt.Errorf("ingest: hospital %s, for which the spool was read, is not a member of chain %s", p.hospital, p.chainID)
	case h.Operator != p.addr:
		return fmt.Errorf("ingest: this home's operator key %s is not the operator of hospital %s (%s is); push from that hospital's home", p.addr, p.hospital, h.Operator)
	case len(h.SealPubkey) > 0 && !bytes.Equal(h.SealPubkey, p.sp.header.CustodianSealPubkey):
		return fmt.Errorf("ingest: the spool's records are sealed to another key than hospital %s's seal key on chain; read them again with this home", p.hospital)
	}
	return nil
}

// spotCheck checks that the first and last patients pushed.jsonl records
// as enrolled are enrolled here on this chain: progress recorded against
// another (or a reset) chain must not make the push skip everything.
func (p *pusher) spotCheck(ctx context.Context) error {
	var done []string
	for _, ps := range p.sp.order {
		if _, ok := p.sp.pushed[patientItem(ps)]; ok {
			done = append(done, ps)
		}
	}
	if len(done) == 0 {
		return nil
	}
	for _, ps := range []string{done[0], done[len(done)-1]} {
		st, err := chainrpc.QueryMessage[pb.Patient](ctx, p.chain, patientPath(ps))
		if err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
		if st == nil || !slices.Contains(st.Hospitals, p.hospital) {
			return p.notOnThisChain(ps)
		}
	}
	return nil
}

func (p *pusher) notOnThisChain(pseudonym string) error {
	return fmt.Errorf("ingest: %s says patient %s was enrolled here at height %d, but this chain does not have it at hospital %s: is --node the chain the spool was pushed to? (move %s away to push again)",
		PushedFile, pseudonym, p.sp.pushed[patientItem(pseudonym)], p.hospital, PushedFile)
}

// run sends passes until every spool item is committed.
func (p *pusher) run(ctx context.Context) error {
	stalls := 0
	for {
		pending := p.pendingPatients()
		if len(pending) == 0 {
			return nil
		}
		before := p.done
		p.problem = ""
		var batch []*pendingTx
		for _, ps := range pending {
			txs, err := p.plan(ctx, ps)
			if err != nil {
				return err
			}
			batch = append(batch, txs...)
			if len(batch) >= min(p.o.BatchSize*p.o.StepsPerTx, max(MaxStepsInFlight, p.o.BatchSize)) {
				if err := p.send(ctx, batch); err != nil {
					return err
				}
				batch = nil
			}
		}
		if len(batch) > 0 {
			if err := p.send(ctx, batch); err != nil {
				return err
			}
		}
		if err := p.progress.Sync(); err != nil {
			return err
		}
		if p.done > before || p.splitNow {
			// Progress, or a refused batch whose steps now go alone.
			stalls, p.splitNow = 0, false
			continue
		}
		if stalls++; stalls >= maxStalls {
			return fmt.Errorf("ingest: no progress after %d attempts (%s); run the push phase again later, it resumes", maxStalls, p.problem)
		}
		if err := p.waitBlock(ctx); err != nil {
			return err
		}
	}
}

// pendingPatients are the pseudonyms, in spool order, with a patient or a
// record not yet recorded committed.
func (p *pusher) pendingPatients() []string {
	var out []string
	for _, ps := range p.sp.order {
		if _, ok := p.sp.pushed[patientItem(ps)]; !ok {
			out = append(out, ps)
			continue
		}
		for _, r := range p.sp.byOwner[ps] {
			if _, ok := p.sp.pushed[recordItem(r.RecordID)]; !ok {
				out = append(out, ps)
				break
			}
		}
	}
	return out
}

// markDone records an item found committed at height.
func (p *pusher) markDone(item string, height int64) error {
	p.sp.pushed[item] = height
	p.done++
	l := pushedLine{V: spoolVersion, Height: height}
	if id, ok := strings.CutPrefix(item, "p:"); ok {
		l.Patient = id
	} else {
		l.Record = strings.TrimPrefix(item, "r:")
	}
	return p.progress.Add(l)
}

// plan reads the chain state of one patient and returns the txs still
// needed for it and its records, marking what is already committed.
func (p *pusher) plan(ctx context.Context, pseudonym string) ([]*pendingTx, error) {
	pe := p.sp.patients[pseudonym]
	_, patientDone := p.sp.pushed[patientItem(pseudonym)]
	var recs []*RecordEntry
	for _, r := range p.sp.byOwner[pseudonym] {
		if _, ok := p.sp.pushed[recordItem(r.RecordID)]; !ok {
			recs = append(recs, r)
		}
	}
	st, err := chainrpc.QueryMessage[pb.Patient](ctx, p.chain, patientPath(pseudonym))
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	var txs []*pendingTx
	sealPub := pe.SealPubkey
	onChain := map[string]*pb.Record{}
	if patientDone && (st == nil || !slices.Contains(st.Hospitals, p.hospital)) {
		return nil, p.notOnThisChain(pseudonym)
	}
	if st == nil {
		consent, _ := parseConsent(pe.Consent) // validated when the spool was read
		txs = append(txs, &pendingTx{item: patientItem(pseudonym), kind: "enrol", typ: records.TypeEnrolPatient,
			msg: &pb.EnrolPatient{Pseudonym: pseudonym, Pubkey: pe.Pubkey, SealPubkey: pe.SealPubkey, ResearchConsent: consent}})
	} else {
		acc, err := chainrpc.QueryMessage[pb.Account](ctx, p.chain, accountPath(st.Account))
		if err != nil {
			return nil, fmt.Errorf("ingest: %w", err)
		}
		if acc == nil || len(acc.SealPubkey) != recordcrypto.PublicKeySize {
			return nil, fmt.Errorf("ingest: patient %s names account %s, which has no seal key on chain", pseudonym, st.Account)
		}
		sealPub = acc.SealPubkey
		switch {
		case slices.Contains(st.Hospitals, p.hospital):
			if !patientDone {
				if err := p.markDone(patientItem(pseudonym), st.Height); err != nil {
					return nil, err
				}
				p.sum.PatientsAlready++
			}
		case !patientDone:
			txs = append(txs, &pendingTx{item: patientItem(pseudonym), kind: "link", typ: records.TypeEnrolPatient,
				msg: &pb.EnrolPatient{Pseudonym: pseudonym}})
		}
		if len(recs) > 0 {
			list, err := chainrpc.QueryMessage[pb.RecordList](ctx, p.chain, patientRecordsPath(pseudonym))
			if err != nil {
				return nil, fmt.Errorf("ingest: %w", err)
			}
			if list != nil {
				for _, r := range list.Records {
					onChain[r.Id] = r
				}
			}
		}
	}
	for _, r := range recs {
		if c := onChain[r.RecordID]; c != nil {
			if c.Custodian != p.hospital || !bytes.Equal(c.ContentHash, r.ContentHash) {
				return nil, fmt.Errorf("ingest: record %s is on chain with custodian %s and another content hash than the vault's: refusing to go on", r.RecordID, c.Custodian)
			}
			if err := p.markDone(recordItem(r.RecordID), c.Height); err != nil {
				return nil, err
			}
			p.sum.RecordsAlready++
			continue
		}
		t := &pendingTx{item: recordItem(r.RecordID), kind: "register", typ: records.TypeRegister}
		sealed := r.SealedKeyPatient
		if !bytes.Equal(sealPub, pe.SealPubkey) {
			if sealed, err = p.reseal(r, sealPub); err != nil {
				return nil, err
			}
			t.resealed = true
		}
		t.msg = &pb.RegisterRecord{
			RecordId: r.RecordID, Pseudonym: r.Pseudonym, ResourceTypes: r.ResourceTypes, ContentHash: r.ContentHash,
			Size: r.Size, Date: r.Date, SealedKeyPatient: sealed, SealedKeyCustodian: r.SealedKeyCustodian,
		}
		txs = append(txs, t)
	}
	return txs, nil
}

// reseal seals a record's data key to another patient key: the key is opened
// from the custodian copy with the hospital's seal key.
func (p *pusher) reseal(r *RecordEntry, to []byte) ([]byte, error) {
	if p.sealPriv == nil {
		seal, err := p.kr.Signer(node.SealKeyName)
		if err != nil {
			return nil, fmt.Errorf("ingest: unlock the hospital's %q key (needed to seal records to patients enrolled by another hospital): %w", node.SealKeyName, err)
		}
		priv, pub := recordcrypto.SealKeyPair([32]byte(seal.Seed()))
		clear(seal)
		if !bytes.Equal(pub[:], p.sp.header.CustodianSealPubkey) {
			clear(priv[:])
			return nil, fmt.Errorf("ingest: this home's %q key is not the one the spool's records are sealed to", node.SealKeyName)
		}
		p.sealPriv = &priv
	}
	id, err := records.ParseID("record_id", r.RecordID)
	if err != nil {
		return nil, err
	}
	key, err := recordcrypto.OpenKey(r.SealedKeyCustodian, id[:], *p.sealPriv)
	if err != nil {
		return nil, fmt.Errorf("ingest: record %s: the custodian copy of its key does not open: %w", r.RecordID, err)
	}
	defer clear(key[:])
	return recordcrypto.SealKey(key, id[:], [32]byte(to))
}

var (
	codeNonceReplayed, _ = abci.CodeOf(abci.ErrNonceReplayed)
	codeNonceSkipped, _  = abci.CodeOf(abci.ErrNonceSkipped)
)

// send signs the batch with consecutive nonces from the operator's sequence,
// broadcasts it, waits for the last accepted tx to commit, and records what
// committed. Up to StepsPerTx consecutive steps travel in one record.import
// tx (all or nothing); with StepsPerTx 1, or once a batch tx was refused in
// a block in this run, each step is its own patient.enrol or
// record.register tx, so one bad step cannot hold back the others. A nonce
// clash (another sender of the operator key, or txs of a crashed run still
// in the mempool) ends the batch early; what was not committed is planned
// again in the next pass.
func (p *pusher) send(ctx context.Context, batch []*pendingTx) error {
	acc, err := chainrpc.QueryMessage[pb.Account](ctx, p.chain, accountPath(p.addr))
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	if acc == nil {
		return fmt.Errorf("ingest: the operator %s has no account on this chain", p.addr)
	}
	var sent []*wireTx
	for _, steps := range group(batch, p.o.StepsPerTx, p.alone) {
		w := &wireTx{steps: steps}
		typ, msg := w.payload()
		raw, err := tx.Build(p.op, p.chainID, p.addr, acc.Sequence+uint64(len(sent)), typ, msg)
		if err != nil {
			return fmt.Errorf("ingest: build %s: %w", typ, err)
		}
		b, err := p.chain.Broadcast(ctx, raw)
		if err != nil {
			if len(sent) == 0 || ctx.Err() != nil {
				return fmt.Errorf("ingest: %w (run the push phase again to resume)", err)
			}
			// The node took some of the batch and then dropped the
			// connection (a busy node past its RPC write timeout): see
			// what committed, then plan the rest again.
			p.problem = "the node dropped a broadcast: " + err.Error()
			p.o.Logger.Info("ingest: a broadcast failed mid-batch; waiting for what was sent, then resuming", "sent", len(sent), "err", err)
			break
		}
		if b.Code == codeNonceReplayed || b.Code == codeNonceSkipped {
			p.problem = "the operator's nonce is in use: " + b.Log
			break
		}
		if b.Code != 0 {
			return fmt.Errorf("ingest: the node refused %s for %s: code %d: %s", typ, w.what(), b.Code, b.Log)
		}
		w.hash = b.Hash
		if len(w.hash) == 0 {
			w.hash = tx.Hash(raw)
		}
		sent = append(sent, w)
		p.sum.Txs++
		p.hook.hit("push", 1)
	}
	if len(sent) == 0 {
		return nil
	}
	p.sum.Batches++
	if ok, err := p.waitCommitted(ctx, sent[len(sent)-1].hash); err != nil {
		return err
	} else if !ok {
		p.problem = fmt.Sprintf("a batch was not committed within %s", p.o.CommitTimeout)
		p.o.Logger.Info("ingest: batch not committed in time; re-reading chain state", "txs", len(sent))
	}
	committed := 0
	for _, w := range sent {
		r, ok, err := p.chain.TxResult(ctx, w.hash)
		if err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
		if !ok {
			continue
		}
		p.sum.Height = max(p.sum.Height, r.Height)
		if r.Code != 0 {
			typ, _ := w.payload()
			p.problem = fmt.Sprintf("%s for %s refused at height %d: %s", typ, w.what(), r.Height, r.Log)
			if len(w.steps) > 1 {
				// Find the bad step: from now on each of these goes alone.
				p.splitNow = true
				for _, t := range w.steps {
					p.alone[t.item] = true
				}
				continue
			}
			item := w.steps[0].item
			if p.failures[item]++; p.failures[item] >= maxDeliverFailures {
				return fmt.Errorf("ingest: the chain refused %s for %s %d times; last: %s", typ, item[2:], maxDeliverFailures, r.Log)
			}
			continue
		}
		committed++
		for _, t := range w.steps {
			if err := p.markDone(t.item, r.Height); err != nil {
				return err
			}
			switch t.kind {
			case "enrol":
				p.sum.PatientsEnrolled++
			case "link":
				p.sum.PatientsLinked++
			default:
				p.sum.RecordsRegistered++
				if t.resealed {
					p.sum.RecordsResealed++
				}
			}
		}
	}
	p.hook.hit("commit", committed)
	if err := p.progress.Sync(); err != nil {
		return err
	}
	p.o.Logger.Info("ingest: batch committed", "txs", len(sent), "committed", committed, "height", p.sum.Height)
	return nil
}

// group cuts a batch into the steps of each tx: up to per consecutive
// steps, except that a step in alone travels by itself.
func group(batch []*pendingTx, per int, alone map[string]bool) [][]*pendingTx {
	var out [][]*pendingTx
	for len(batch) > 0 {
		n := 1
		for !alone[batch[0].item] && n < min(per, len(batch)) && !alone[batch[n].item] {
			n++
		}
		out = append(out, batch[:n])
		batch = batch[n:]
	}
	return out
}

// wireTx is one tx of the push phase: one step, or several in a
// record.import batch.
type wireTx struct {
	steps []*pendingTx
	hash  []byte
}

// payload is the tx type and message that carry w's steps.
func (w *wireTx) payload() (string, proto.Message) {
	if len(w.steps) == 1 {
		return w.steps[0].typ, w.steps[0].msg
	}
	b := &pb.ImportBatch{Items: make([]*pb.ImportItem, len(w.steps))}
	for i, t := range w.steps {
		switch m := t.msg.(type) {
		case *pb.EnrolPatient:
			b.Items[i] = &pb.ImportItem{Step: &pb.ImportItem_Enrol{Enrol: m}}
		case *pb.RegisterRecord:
			b.Items[i] = &pb.ImportItem{Step: &pb.ImportItem_Record{Record: m}}
		default:
			// Broken invariant: plan only makes these two kinds of step.
			panic(fmt.Sprintf("ingest: a %T step cannot travel in a batch", m))
		}
	}
	return records.TypeImport, b
}

// what names w's steps in messages: pseudonyms and record ids only.
func (w *wireTx) what() string {
	if len(w.steps) == 1 {
		return w.steps[0].item[2:]
	}
	return fmt.Sprintf("%d steps (%s … %s)", len(w.steps), w.steps[0].item[2:], w.steps[len(w.steps)-1].item[2:])
}

// waitCommitted polls until the tx is in a committed block (true), or
// CommitTimeout passes (false).
func (p *pusher) waitCommitted(ctx context.Context, hash []byte) (bool, error) {
	deadline := time.Now().Add(p.o.CommitTimeout)
	for {
		_, ok, err := p.chain.TxResult(ctx, hash)
		if err != nil {
			return false, fmt.Errorf("ingest: %w", err)
		}
		if ok {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

// waitBlock waits until the chain commits a new block (or CommitTimeout).
func (p *pusher) waitBlock(ctx context.Context) error {
	st0, err := p.chain.Status(ctx)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	deadline := time.Now().Add(p.o.CommitTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollEvery):
		}
		if st, err := p.chain.Status(ctx); err != nil {
			return fmt.Errorf("ingest: %w", err)
		} else if st.Height > st0.Height {
			return nil
		}
	}
	return nil
}
