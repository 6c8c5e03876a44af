package sharing_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	ics23 "github.com/cosmos/ics23/go"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci"
	"github.com/medchain/medchain/abci/store"
	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
	"github.com/medchain/medchain/genesis"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/recordcrypto"
	"github.com/medchain/medchain/node/sharing"
	"github.com/medchain/medchain/node/vault"
)

const testChainID = "sharing-test-1"

// appChain is a one-validator medchain run in process: the real ABCI app
// over a real Badger store, one block per tx (CheckTx, then FinalizeBlock
// and Commit), and queries whose ICS23 proofs are verified against the
// committed app hash. It implements sharing.Chain.
type appChain struct {
	t      testing.TB
	mu     sync.Mutex
	app    *abci.App
	height int64
	// provedAt lists the heights of the proved queries, in order.
	provedAt []int64
}

var _ sharing.Chain = (*appChain)(nil)

func blockTime(h int64) time.Time {
	return time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(h) * time.Second)
}

func newAppChain(t testing.TB, gs *genesis.AppState, validators []abcitypes.ValidatorUpdate) *appChain {
	t.Helper()
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	bz, err := json.Marshal(gs)
	if err != nil {
		t.Fatal(err)
	}
	c := &appChain{t: t, app: abci.New(testChainID, st, nil)}
	if _, err := c.app.InitChain(context.Background(), &abcitypes.RequestInitChain{
		Time: blockTime(0), ChainId: testChainID, Validators: validators, AppStateBytes: bz, InitialHeight: 1,
	}); err != nil {
		t.Fatalf("InitChain: %v", err)
	}
	c.Advance(1)
	return c
}

// block runs one block of txs and returns its results.
func (c *appChain) block(txs ...[]byte) []*abcitypes.ExecTxResult {
	c.height++
	resp, err := c.app.FinalizeBlock(context.Background(), &abcitypes.RequestFinalizeBlock{Height: c.height, Time: blockTime(c.height), Txs: txs})
	if err != nil {
		c.t.Fatalf("FinalizeBlock(%d): %v", c.height, err)
	}
	if _, err := c.app.Commit(context.Background(), &abcitypes.RequestCommit{}); err != nil {
		c.t.Fatalf("Commit(%d): %v", c.height, err)
	}
	return resp.TxResults
}

// takeProved returns and forgets the heights of the proved queries so far.
func (c *appChain) takeProved() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.provedAt
	c.provedAt = nil
	return out
}

// Advance commits n empty blocks.
func (c *appChain) Advance(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for range n {
		c.block()
	}
}

func (c *appChain) Height() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.height
}

// Send implements sharing.Chain as client.Client does: the nonce is the
// account's sequence, CheckTx refusals are errors, block refusals Results.
func (c *appChain) Send(ctx context.Context, priv ed25519.PrivateKey, txType string, payload proto.Message, _ time.Duration) (*client.Result, error) {
	addr := pb.AddressOf(priv.Public().(ed25519.PublicKey))
	q, err := c.Query(ctx, "/account/"+addr, 0, false)
	if err != nil {
		return nil, err
	}
	if q.Value == nil {
		return nil, fmt.Errorf("%s has no account on this chain", addr)
	}
	var acc pb.Account
	if err := tx.Unmarshal(q.Value, &acc); err != nil {
		return nil, err
	}
	raw, err := tx.Build(priv, testChainID, addr, acc.Sequence, txType, payload)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ck, err := c.app.CheckTx(ctx, &abcitypes.RequestCheckTx{Tx: raw, Type: abcitypes.CheckTxType_New})
	if err != nil {
		return nil, err
	}
	if ck.Code != 0 {
		return nil, &client.CodeError{Code: ck.Code, Codespace: ck.Codespace, Log: ck.Log, Stage: "check"}
	}
	r := c.block(raw)[0]
	out := &client.Result{Hash: tx.Hash(raw), Height: c.height, Code: r.Code, Log: r.Log}
	for _, e := range r.Events {
		ev := client.EventView{Type: e.Type, Attrs: map[string]string{}}
		for _, a := range e.Attributes {
			ev.Attrs[a.Key] = a.Value
		}
		out.Events = append(out.Events, ev)
	}
	return out, nil
}

// Query implements sharing.Chain; with prove, it verifies the proof
// against the app hash committed at the answer's height. It records the
// heights read, so tests see which snapshot an operation used.
func (c *appChain) Query(ctx context.Context, path string, height int64, prove bool) (*client.QueryResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.app.Query(ctx, &abcitypes.RequestQuery{Path: path, Height: height, Prove: prove})
	if err != nil {
		return nil, err
	}
	if r.Code != 0 {
		return nil, &client.CodeError{Code: r.Code, Codespace: r.Codespace, Log: r.Log, Stage: "query"}
	}
	out := &client.QueryResult{Path: path, Key: r.Key, Value: r.Value, Height: r.Height}
	if len(out.Value) == 0 {
		out.Value = nil
	}
	if !prove {
		return out, nil
	}
	if r.ProofOps == nil || len(r.ProofOps.Ops) != 1 {
		return nil, fmt.Errorf("query %s: no proof", path)
	}
	var proof ics23.CommitmentProof
	if err := proof.Unmarshal(r.ProofOps.Ops[0].Data); err != nil {
		return nil, err
	}
	// The app hash of height r.Height, as the header of r.Height+1 carries it.
	hq, err := c.app.Query(ctx, &abcitypes.RequestQuery{Path: "/apphash", Height: r.Height})
	if err != nil || hq.Code != 0 || len(hq.Value) == 0 {
		return nil, fmt.Errorf("app hash at %d: %v %s", r.Height, err, hq.GetLog())
	}
	appHash := hq.Value
	if out.Value != nil {
		err = store.VerifyMembership(appHash, &proof, r.Key, out.Value)
	} else {
		err = store.VerifyNonMembership(appHash, &proof, r.Key)
	}
	if err != nil {
		return nil, fmt.Errorf("query %s: proof does not verify: %w", path, err)
	}
	out.Verified, out.AppHash = true, appHash
	c.provedAt = append(c.provedAt, r.Height)
	return out, nil
}

// hospital is a member of the test alliance: its operator and seal keys,
// and a custodian vault (real Badger files) its gateway serves from.
type hospital struct {
	id       string
	operator ed25519.PrivateKey
	sealPriv [32]byte
	sealPub  [32]byte
	vault    *vault.Vault
	url      string
	cert     []byte
}

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func newHospital(t testing.TB, id string) *hospital {
	t.Helper()
	h := &hospital{id: id, operator: newKey(t), url: "https://127.0.0.1:1/" + id}
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		t.Fatal(err)
	}
	h.sealPriv, h.sealPub = recordcrypto.SealKeyPair(seed)
	cert := sha256.Sum256([]byte("certificate of " + id))
	h.cert = cert[:]
	home := t.TempDir()
	if err := vault.EnsureKeys(home); err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	h.vault = v
	return h
}

// world is a two-hospital alliance (h1, h2) on an appChain, a keyring for
// the people, and a gateway (fakeGateway) serving the hospitals' vaults.
type world struct {
	t     *testing.T
	chain *appChain
	h     map[string]*hospital
	kr    *keyring.Keyring
	sc    *sharing.Client
	gw    *fakeGateway
	ctx   context.Context
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, h: map[string]*hospital{}, ctx: context.Background()}
	gs := &genesis.AppState{Alliance: "Sharing Test", Params: genesis.DefaultParams()}
	var vals []abcitypes.ValidatorUpdate
	for i, id := range []string{"h1", "h2"} {
		h := newHospital(t, id)
		w.h[id] = h
		val := newKey(t).Public().(ed25519.PublicKey)
		gs.Hospitals = append(gs.Hospitals, genesis.Hospital{
			ID: id, Name: "Hospital " + id, ValidatorPubKey: val, Power: int64(10 + i),
			OperatorPubKey: h.operator.Public().(ed25519.PublicKey), SealPubKey: h.sealPub[:],
		})
		vals = append(vals, abcitypes.UpdateValidator(val, int64(10+i), "ed25519"))
	}
	w.chain = newAppChain(t, gs, vals)
	kr, err := keyring.Open(t.TempDir(), keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.kr = kr
	w.gw = &fakeGateway{w: w}
	w.sc = &sharing.Client{Chain: w.chain, ChainID: testChainID, Prove: true, Gateway: w.gw.Fetch}
	for _, h := range w.h {
		w.mustSend(h.operator, records.TypeSetGateway, &pb.SetGateway{Url: h.url, CertSha256: h.cert})
	}
	return w
}

func (w *world) mustSend(priv ed25519.PrivateKey, typ string, m proto.Message) *client.Result {
	w.t.Helper()
	res, err := w.chain.Send(w.ctx, priv, typ, m, 0)
	if err != nil {
		w.t.Fatalf("%s: %v", typ, err)
	}
	if res.Code != 0 {
		w.t.Fatalf("%s refused: %s", typ, res.Log)
	}
	return res
}

// person creates a keyring identity.
func (w *world) person(name string) *sharing.Identity {
	w.t.Helper()
	id, err := sharing.NewIdentity(w.kr, name)
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

// doctor creates and enrols a doctor at hospital h.
func (w *world) doctor(name, h string, emergency, reviewer bool) *sharing.Identity {
	w.t.Helper()
	id := w.person(name)
	addr, err := w.sc.EnrolDoctor(w.ctx, w.h[h].operator, sharing.DoctorEnrolment{
		Pub: id.Public(), SealPub: id.SealPub, Label: "staff-" + name, Emergency: emergency, Reviewer: reviewer,
	})
	if err != nil {
		w.t.Fatalf("enrol doctor %s: %v", name, err)
	}
	if addr != id.Address() {
		w.t.Fatalf("enrolled %s, want %s", addr, id.Address())
	}
	return id
}

func randomHex(t testing.TB) string {
	t.Helper()
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// patient creates and enrols a patient at hospital h; returns its
// identity and pseudonym.
func (w *world) patient(name, h string) (*sharing.Identity, string) {
	w.t.Helper()
	id := w.person(name)
	pid := randomHex(w.t)
	addr, err := w.sc.EnrolPatient(w.ctx, w.h[h].operator, pid, id.Public(), id.SealPub, pb.Consent_CONSENT_OPT_IN)
	if err != nil {
		w.t.Fatalf("enrol patient %s: %v", name, err)
	}
	if addr != id.Address() {
		w.t.Fatalf("enrolled %s, want %s", addr, id.Address())
	}
	return id, pid
}

// register has hospital h encrypt plaintext as a new record of the patient
// (its seal key patientSeal), keep the ciphertext in its vault and
// register it on chain, as the import path does. Returns the record id.
func (w *world) register(h string, pid string, patientSeal [32]byte, date uint32, plaintext string, types ...string) string {
	w.t.Helper()
	hosp := w.h[h]
	var rid [32]byte
	if _, err := rand.Read(rid[:]); err != nil {
		w.t.Fatal(err)
	}
	key, err := recordcrypto.NewDataKey()
	if err != nil {
		w.t.Fatal(err)
	}
	ct, err := recordcrypto.EncryptRecord(key, rid[:], []byte(plaintext))
	if err != nil {
		w.t.Fatal(err)
	}
	toPatient, err := recordcrypto.SealKey(key, rid[:], patientSeal)
	if err != nil {
		w.t.Fatal(err)
	}
	toCustodian, err := recordcrypto.SealKey(key, rid[:], hosp.sealPub)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := hosp.vault.Put(rid[:], ct, toCustodian); err != nil {
		w.t.Fatal(err)
	}
	sum := recordcrypto.ContentHash(ct)
	id := hex.EncodeToString(rid[:])
	w.mustSend(hosp.operator, records.TypeRegister, &pb.RegisterRecord{
		RecordId: id, Pseudonym: pid, ResourceTypes: types, ContentHash: sum[:], Size: uint64(len(ct)), Date: date,
		SealedKeyPatient: toPatient, SealedKeyCustodian: toCustodian,
	})
	return id
}

// fakeGateway serves the hospitals' vaults as node/gateway does: only to
// the doctor of a committed access entry of the right chain, record and
// custodian, over the published (pinned) URL and certificate; for a
// custodian-keyed entry it seals the custodian's copy of the data key to
// the doctor. tamper alters what it serves.
type fakeGateway struct {
	w      *world
	tamper func(*sharing.GatewayResult)
	served int
}

func (g *fakeGateway) Fetch(ctx context.Context, req sharing.GatewayRequest) (*sharing.GatewayResult, error) {
	w := g.w
	h, ok := w.h[req.HospitalID]
	switch {
	case !ok:
		return nil, fmt.Errorf("no hospital %q", req.HospitalID)
	case req.URL != h.url || !bytes.Equal(req.CertSHA256, h.cert):
		return nil, errors.New("TLS: the certificate does not match the pinned fingerprint")
	case req.ChainID != testChainID:
		return nil, errors.New("403: wrong chain")
	}
	q, err := w.chain.Query(ctx, fmt.Sprintf("/records/access/%d", req.AccessID), 0, false)
	if err != nil || q.Value == nil {
		return nil, fmt.Errorf("403: no committed access %d (%v)", req.AccessID, err)
	}
	var e pb.AccessEntry
	if err := tx.Unmarshal(q.Value, &e); err != nil {
		return nil, err
	}
	docAddr := pb.AddressOf(req.Doctor.Public().(ed25519.PublicKey))
	if e.Doctor != docAddr || e.RecordId != req.RecordID || e.Custodian != h.id {
		return nil, errors.New("403: the access entry is not this doctor's for this record here")
	}
	rid, err := records.ParseID("record", req.RecordID)
	if err != nil {
		return nil, err
	}
	ct, custodianSealed, err := h.vault.Get(rid[:])
	if err != nil {
		return nil, fmt.Errorf("410: %w", err)
	}
	sum := sha256.Sum256(ct)
	res := &sharing.GatewayResult{Ciphertext: ct, ContentHash: hex.EncodeToString(sum[:]), KeySource: sharing.KeySourceGrant}
	if e.KeySource == pb.KeySource_KEY_SOURCE_CUSTODIAN {
		res.KeySource = sharing.KeySourceCustodian
		aq, err := w.chain.Query(ctx, "/account/"+docAddr, 0, false)
		if err != nil {
			return nil, err
		}
		var acc pb.Account
		if err := tx.Unmarshal(aq.Value, &acc); err != nil {
			return nil, err
		}
		key, err := recordcrypto.OpenKey(custodianSealed, rid[:], h.sealPriv)
		if err != nil {
			return nil, err
		}
		var pub [32]byte
		copy(pub[:], acc.SealPubkey)
		if res.SealedKey, err = recordcrypto.SealKey(key, rid[:], pub); err != nil {
			return nil, err
		}
	}
	if g.tamper != nil {
		g.tamper(res)
	}
	g.served++
	return res, nil
}
