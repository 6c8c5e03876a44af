package records_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/curve25519"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
	"github.com/medchain/medchain/genesis"
)

// memStore is an in-memory KVStore read in sorted key order (a copy of
// contracts' test store, without failure injection).
type memStore struct{ data map[string][]byte }

func newMemStore() *memStore { return &memStore{data: map[string][]byte{}} }

func (m *memStore) Get(key []byte) ([]byte, error) {
	v, ok := m.data[string(key)]
	if !ok {
		return nil, nil
	}
	return bytes.Clone(v), nil
}

func (m *memStore) Set(key, value []byte) error {
	if len(key) == 0 || len(value) == 0 {
		return errors.New("memStore: empty key or value")
	}
	m.data[string(key)] = bytes.Clone(value)
	return nil
}

func (m *memStore) Delete(key []byte) error {
	delete(m.data, string(key))
	return nil
}

func (m *memStore) Iterator(start, end []byte, ascending bool) (contracts.Iterator, error) {
	var keys []string
	for k := range m.data {
		if (start == nil || k >= string(start)) && (end == nil || k < string(end)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if !ascending {
		slices.Reverse(keys)
	}
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = bytes.Clone(m.data[k])
	}
	return &memIterator{keys: keys, vals: vals}, nil
}

type memIterator struct {
	keys []string
	vals [][]byte
}

func (it *memIterator) Valid() bool   { return len(it.keys) > 0 }
func (it *memIterator) Next()         { it.keys, it.vals = it.keys[1:], it.vals[1:] }
func (it *memIterator) Key() []byte   { return []byte(it.keys[0]) }
func (it *memIterator) Value() []byte { return it.vals[0] }
func (it *memIterator) Error() error  { return nil }
func (it *memIterator) Close() error  { return nil }

// snapshot renders every key and value of r, in key order.
func snapshot(tb testing.TB, r contracts.Reader) string {
	tb.Helper()
	it, err := r.Iterator(nil, nil, true)
	if err != nil {
		tb.Fatal(err)
	}
	defer it.Close()
	var b strings.Builder
	for ; it.Valid(); it.Next() {
		fmt.Fprintf(&b, "%x=%x\n", it.Key(), it.Value())
	}
	return b.String()
}

// Deterministic identities, derived from names.

func edPub(name string) ed25519.PublicKey {
	seed := sha256.Sum256([]byte("records test key/" + name))
	return ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
}

func addr(name string) string { return pb.AddressOf(edPub(name)) }

func sealPub(name string) []byte {
	priv := sha256.Sum256([]byte("records test seal key/" + name))
	pub, err := curve25519.X25519(priv[:], curve25519.Basepoint)
	if err != nil {
		panic(err) // broken invariant: a scalar times the base point never fails
	}
	return pub
}

func hexID(kind, name string) string {
	h := sha256.Sum256([]byte(kind + "/" + name))
	return hex.EncodeToString(h[:])
}

func pidOf(name string) string { return hexID("pseudonym", name) }
func ridOf(name string) string { return hexID("record", name) }

// sealed is an opaque stand-in for a data key sealed to someone.
func sealed(name string) []byte {
	a, b, c := sha256.Sum256([]byte("a"+name)), sha256.Sum256([]byte("b"+name)), sha256.Sum256([]byte("c"+name))
	return slices.Concat(a[:], b[:], c[:16])
}

func raw32(s string) [32]byte {
	id, err := records.ParseID("id", s)
	if err != nil {
		panic(err)
	}
	return id
}

func raw20(s string) [20]byte {
	a, err := pb.ParseAddress(s)
	if err != nil {
		panic(err)
	}
	return a
}

const testChainID = "records-test"

// world is an in-memory chain state with the records contract, two member
// hospitals h1 and h2 (operators "op1", "op2") and an impostor: an
// operator-role account of h1 that h1's record does not name.
type world struct {
	t      testing.TB
	store  *memStore
	router *contracts.Router
	height int64
	// events are those of the last tx that succeeded; all, those of
	// every tx that succeeded, in order.
	events []contracts.Event
	all    []contracts.Event
}

var (
	op1      = addr("op1")
	op2      = addr("op2")
	impostor = addr("impostor")
)

func newWorld(t testing.TB) *world {
	t.Helper()
	st := newMemStore()
	gs := &genesis.AppState{
		Alliance: "Records Test",
		Hospitals: []genesis.Hospital{
			{ID: "h1", Name: "One", ValidatorPubKey: edPub("v1"), Power: 1, OperatorPubKey: edPub("op1"), SealPubKey: sealPub("op1")},
			{ID: "h2", Name: "Two", ValidatorPubKey: edPub("v2"), Power: 1, OperatorPubKey: edPub("op2"), SealPubKey: sealPub("op2")},
		},
		Accounts: []genesis.Account{{PubKey: edPub("researcher"), Role: "researcher", Label: "lab"}},
		Params:   genesis.Params{MaxTxBytes: 1 << 20, MaxMemoBytes: 100, MaxLabelBytes: 16},
	}
	if err := accounts.InitGenesis(st, gs); err != nil {
		t.Fatalf("InitGenesis: %v", err)
	}
	if err := accounts.SetAccount(st, &pb.Account{Address: impostor, Pubkey: edPub("impostor"), Role: pb.Role_ROLE_OPERATOR, Hospital: "h1", Label: "x"}); err != nil {
		t.Fatal(err)
	}
	return &world{
		t: t, store: st, height: 10,
		router: contracts.NewRouter(append(records.Handlers(), accounts.Handlers()...)...),
	}
}

func (w *world) block() contracts.Block {
	return contracts.Block{Height: w.height, Time: time.Unix(1_700_000_000+w.height*5, 0).UTC(), ChainID: testChainID}
}

// exec runs one tx as the app does: Prepare (decode + Validate), Authorize
// by role, then Exec on a per-tx cache that is written only on success.
// It also checks that a refused tx wrote nothing, even to its own cache.
func (w *world) exec(signer, typ string, msg proto.Message) error {
	w.t.Helper()
	bz, err := proto.Marshal(msg)
	if err != nil {
		w.t.Fatal(err)
	}
	p, err := w.router.Prepare(typ, bz)
	if err != nil {
		return err
	}
	acc, err := accounts.GetAccount(w.store, signer)
	if err != nil || acc == nil {
		w.t.Fatalf("signer %s: %v, %v", signer, acc, err)
	}
	if err := p.Authorize(acc.Role); err != nil {
		return err
	}
	before := snapshot(w.t, w.store)
	cache := contracts.NewCache(w.store)
	ctx := contracts.NewContext(w.block(), cache, acc, acc.Sequence)
	if err := p.Handler.Exec(ctx, p.Msg); err != nil {
		if after := snapshot(w.t, cache); after != before {
			w.t.Errorf("%s refused (%v) but wrote to its cache", typ, err)
		}
		if len(ctx.Events()) > 0 {
			// Events of a refused tx never reach the block; emitting
			// them before a refusal would still be a bug.
			w.t.Errorf("%s refused (%v) but emitted %v", typ, err, ctx.Events())
		}
		return err
	}
	if err := cache.Write(); err != nil {
		w.t.Fatal(err)
	}
	w.events = ctx.Events()
	w.all = append(w.all, w.events...)
	return nil
}

// ok runs a tx that must succeed.
func (w *world) ok(signer, typ string, msg proto.Message) {
	w.t.Helper()
	if err := w.exec(signer, typ, msg); err != nil {
		w.t.Fatalf("%s by %s: %v", typ, signer, err)
	}
}

// event returns the attributes of the last tx's only event of type typ.
func (w *world) event(typ string) map[string]string {
	w.t.Helper()
	var found map[string]string
	for _, e := range w.events {
		if e.Type == typ {
			if found != nil {
				w.t.Fatalf("two %s events", typ)
			}
			found = map[string]string{}
			for _, a := range e.Attrs {
				found[a.Key] = a.Value
			}
		}
	}
	if found == nil {
		w.t.Fatalf("no %s event in %+v", typ, w.events)
	}
	return found
}

// enrolDoctor enrols doctor name at the hospital of operator op.
func (w *world) enrolDoctor(op, name string, emergency, reviewer bool) string {
	w.t.Helper()
	w.ok(op, records.TypeEnrolDoctor, &pb.EnrolDoctor{Pubkey: edPub(name), SealPubkey: sealPub(name), Label: "dr-" + name, Emergency: emergency, Reviewer: reviewer})
	return addr(name)
}

// enrolPatient enrols patient name at op's hospital (first enrolment),
// and returns its pseudonym and account.
func (w *world) enrolPatient(op, name string) (pid, account string) {
	w.t.Helper()
	w.ok(op, records.TypeEnrolPatient, &pb.EnrolPatient{Pseudonym: pidOf(name), Pubkey: edPub(name), SealPubkey: sealPub(name)})
	return pidOf(name), addr(name)
}

func (w *world) link(op, name string) {
	w.t.Helper()
	w.ok(op, records.TypeEnrolPatient, &pb.EnrolPatient{Pseudonym: pidOf(name)})
}

func registerMsg(name, pid string, date uint32, types ...string) *pb.RegisterRecord {
	h := sha256.Sum256([]byte("ciphertext/" + name))
	return &pb.RegisterRecord{
		RecordId: ridOf(name), Pseudonym: pid, ResourceTypes: types, ContentHash: h[:], Size: 1234, Date: date,
		SealedKeyPatient: sealed("patient/" + name), SealedKeyCustodian: sealed("custodian/" + name),
	}
}

// register registers record name of patient pid at op's hospital.
func (w *world) register(op, name, pid string, date uint32, types ...string) string {
	w.t.Helper()
	w.ok(op, records.TypeRegister, registerMsg(name, pid, date, types...))
	return ridOf(name)
}

func (w *world) record(rid string) *pb.Record {
	w.t.Helper()
	r, err := records.GetRecord(w.store, raw32(rid))
	if err != nil || r == nil {
		w.t.Fatalf("record %s: %v, %v", rid, r, err)
	}
	return r
}

func (w *world) grant(id uint64) *pb.Grant {
	w.t.Helper()
	g, err := records.GetGrant(w.store, id)
	if err != nil || g == nil {
		w.t.Fatalf("grant %d: %v, %v", id, g, err)
	}
	return g
}

func (w *world) account(a string) *pb.Account {
	w.t.Helper()
	acc, err := accounts.GetAccount(w.store, a)
	if err != nil || acc == nil {
		w.t.Fatalf("account %s: %v, %v", a, acc, err)
	}
	return acc
}

// lastGrant is the id of the grant the last tx created.
func (w *world) lastGrant() uint64 {
	w.t.Helper()
	for _, typ := range []string{records.EventGranted, records.EventForwarded} {
		for _, e := range w.events {
			if e.Type == typ {
				var id uint64
				fmt.Sscan(w.event(typ)["id"], &id)
				return id
			}
		}
	}
	w.t.Fatalf("the last tx created no grant: %+v", w.events)
	return 0
}

func (w *world) lastAccess() uint64 {
	w.t.Helper()
	var id uint64
	fmt.Sscan(w.event(records.EventAccessed)["id"], &id)
	return id
}

// sentinels in the order a refusal is classified: ErrDenied wraps
// ErrUnauthorized, so it comes first.
var sentinels = []error{
	contracts.ErrDenied, contracts.ErrInvalidPayload, contracts.ErrUnauthorized, contracts.ErrNotFound,
	contracts.ErrExists, contracts.ErrWrongState, contracts.ErrUnknownTxType,
}

// class returns the most specific sentinel err wraps, or nil.
func class(err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}

// wantErr checks err against want (nil = success) and, for a denial, that
// the log names reason.
func wantErr(t testing.TB, err, want error, reason string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("allowed, want %v", want)
	}
	if got := class(err); got != want {
		t.Fatalf("error %q is %v, want %v", err, got, want)
	}
	if reason != "" && !strings.Contains(err.Error(), reason) {
		t.Fatalf("error %q does not say %q", err, reason)
	}
}

func itoa(v uint64) string { return fmt.Sprint(v) }
