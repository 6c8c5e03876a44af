package hekeys_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/hekeys"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/genesis"
	"github.com/medchain/medchain/he"
)

const testChainID = "medchain-hekeys-test"

// key derives an ed25519 key from a name, the same in every run.
func key(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("hekeys test key/" + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// sealKey derives an X25519 key pair from a name, as `medchain init` makes
// one from crypto/rand.
func sealKey(name string) (priv, pub [32]byte) {
	priv = sha256.Sum256([]byte("hekeys test seal key/" + name))
	p, err := curve25519.X25519(priv[:], curve25519.Basepoint)
	if err != nil {
		panic(err) // broken invariant: a 32-byte scalar with the base point never fails
	}
	copy(pub[:], p)
	return priv, pub
}

// member is one founding hospital and what its node worker produced for
// the key ceremony of epoch 1.
type member struct {
	index    uint64
	hospital string
	operator string // account address
	// validatorAddr is CometBFT's address of the hospital's validator:
	// SHA-256 of the ed25519 public key, first 20 bytes.
	validatorAddr []byte
	sealPriv      [32]byte
	sealPub       [32]byte
	// dealt are the member's Shamir shares of its secret, by recipient;
	// its own stays on its node, the others go on chain sealed.
	dealt map[uint64][]byte
	// post is its "he.key_share" payload.
	post *pb.PostKeyShare
}

// alliance is four hospitals (t = 3), a researcher, a doctor of h1 and an
// impostor (an operator account that h2's record does not name), and the
// ceremony data of all four members.
type alliance struct {
	p          *he.Params
	state      *genesis.AppState
	members    []*member // members[i].index == i+1
	researcher string
	doctor     string
	impostor   string
	// collectiveKey is the public key the chain must aggregate.
	collectiveKey []byte
	// ts are the members' threshold secrets, combined from the sealed
	// shares of the posts.
	ts map[uint64]*he.ThresholdSecret
	// researcherPriv and researcherPub are the researcher's HE key pair.
	researcherPriv, researcherPub []byte
}

var (
	allianceOnce sync.Once
	sharedAll    *alliance
	allianceErr  error
)

// testAlliance returns the alliance, built once per test binary: the HE
// work (N = 2^13) is what costs time.
func testAlliance(tb testing.TB) *alliance {
	tb.Helper()
	allianceOnce.Do(func() { sharedAll, allianceErr = newAlliance() })
	if allianceErr != nil {
		tb.Fatalf("building the test alliance: %v", allianceErr)
	}
	return sharedAll
}

func newAlliance() (*alliance, error) {
	hep := genesis.DefaultHE(4)
	p, err := he.NewParams(hep.Params)
	if err != nil {
		return nil, err
	}
	a := &alliance{
		p:          p,
		researcher: pb.AddressOf(pub(key("researcher"))),
		doctor:     pb.AddressOf(pub(key("doctor"))),
		impostor:   pb.AddressOf(pub(key("impostor"))),
		ts:         map[uint64]*he.ThresholdSecret{},
		state: &genesis.AppState{
			Alliance: "HE Test Alliance",
			Params:   genesis.DefaultParams(),
			HE:       hep,
			Accounts: []genesis.Account{{PubKey: pub(key("researcher")), Role: "researcher", Label: "lab"}},
		},
	}
	indexes := []uint64{1, 2, 3, 4}
	seed := he.CRPSeed(testChainID, 1)
	var pkShares [][]byte
	secrets := map[uint64]*he.SecretShare{}
	for _, i := range indexes {
		val := pub(key(fmt.Sprintf("validator%d", i)))
		addr := sha256.Sum256(val)
		m := &member{index: i, hospital: fmt.Sprintf("h%d", i), validatorAddr: addr[:20],
			operator: pb.AddressOf(pub(key(fmt.Sprintf("op%d", i))))}
		m.sealPriv, m.sealPub = sealKey(m.hospital)
		a.members = append(a.members, m)
		a.state.Hospitals = append(a.state.Hospitals, genesis.Hospital{
			ID: m.hospital, Name: "Hospital " + m.hospital, ValidatorPubKey: val, Power: 10,
			OperatorPubKey: pub(key(fmt.Sprintf("op%d", i))), SealPubKey: m.sealPub[:],
		})
		if secrets[i], err = p.GenSecretShare(); err != nil {
			return nil, err
		}
		pk, err := p.GenPublicKeyShare(secrets[i], seed)
		if err != nil {
			return nil, err
		}
		pkShares = append(pkShares, pk)
		if m.dealt, err = p.GenThresholdShares(secrets[i], i, int(hep.Threshold), indexes); err != nil {
			return nil, err
		}
		m.post = &pb.PostKeyShare{Epoch: 1, PublicKeyShare: pk}
	}
	if err := a.state.Validate(); err != nil {
		return nil, err
	}
	for _, m := range a.members {
		for _, r := range a.members {
			if r.index == m.index {
				continue
			}
			sealed, err := box.SealAnonymous(nil, m.dealt[r.index], &r.sealPub, rand.Reader)
			if err != nil {
				return nil, err
			}
			m.post.Shares = append(m.post.Shares, &pb.SealedShare{Recipient: r.index, Sealed: sealed})
		}
	}
	if a.collectiveKey, err = p.AggregatePublicKey(seed, pkShares); err != nil {
		return nil, err
	}
	for _, m := range a.members {
		if a.ts[m.index], err = a.combine(m, func(dealer uint64) ([]byte, error) {
			for _, s := range a.members[dealer-1].post.Shares {
				if s.Recipient == m.index {
					return s.Sealed, nil
				}
			}
			return nil, fmt.Errorf("member %d sealed nothing for %d", dealer, m.index)
		}); err != nil {
			return nil, err
		}
	}
	if a.researcherPriv, a.researcherPub, err = p.GenResearcherKey(); err != nil {
		return nil, err
	}
	return a, nil
}

// combine is member m's node worker after the ceremony: it unseals the
// share every other member sealed to it (sealedFrom finds it), adds its own,
// and combines them into its threshold secret.
func (a *alliance) combine(m *member, sealedFrom func(dealer uint64) ([]byte, error)) (*he.ThresholdSecret, error) {
	received := map[uint64][]byte{m.index: m.dealt[m.index]}
	for _, d := range a.members {
		if d.index == m.index {
			continue
		}
		sealed, err := sealedFrom(d.index)
		if err != nil {
			return nil, err
		}
		share, ok := box.OpenAnonymous(nil, sealed, &m.sealPub, &m.sealPriv)
		if !ok {
			return nil, fmt.Errorf("member %d cannot open the share member %d sealed to it", m.index, d.index)
		}
		received[d.index] = share
	}
	return a.p.CombineThresholdShares(m.index, int(a.state.HE.Threshold), received)
}

// commit is member i's "he.key_commit" payload: its commitment to the
// public-key share it posts.
func (a *alliance) commit(i uint64) *pb.CommitKeyShare {
	return &pb.CommitKeyShare{Epoch: 1, Commitment: hekeys.Commitment(testChainID, 1, i, a.members[i-1].post.PublicKeyShare)}
}

// post returns a deep copy of member i's key-share payload, to mutate.
func (a *alliance) post(i uint64) *pb.PostKeyShare {
	return proto.Clone(a.members[i-1].post).(*pb.PostKeyShare)
}

// encrypt encrypts values under the collective key.
func (a *alliance) encrypt(tb testing.TB, values ...int64) []byte {
	tb.Helper()
	ct, err := a.p.EncodeEncrypt(a.collectiveKey, values)
	if err != nil {
		tb.Fatal(err)
	}
	return ct
}

// signers lists, ascending, the validator addresses of the given members.
func (a *alliance) signers(indexes ...uint64) [][]byte {
	var out [][]byte
	for _, i := range indexes {
		out = append(out, a.members[i-1].validatorAddr)
	}
	slices.SortFunc(out, bytes.Compare)
	return out
}

// memStore is an in-memory KVStore: a map read in sorted key order.
type memStore struct{ data map[string][]byte }

func (m *memStore) Get(k []byte) ([]byte, error) {
	if v, ok := m.data[string(k)]; ok {
		return bytes.Clone(v), nil
	}
	return nil, nil
}

func (m *memStore) Set(k, v []byte) error {
	if len(k) == 0 || len(v) == 0 {
		return errors.New("memStore: empty key or value")
	}
	m.data[string(k)] = bytes.Clone(v)
	return nil
}

func (m *memStore) Delete(k []byte) error { delete(m.data, string(k)); return nil }

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
	return &memIterator{keys: keys, m: m.data}, nil
}

type memIterator struct {
	keys []string
	m    map[string][]byte
}

func (it *memIterator) Valid() bool   { return len(it.keys) > 0 }
func (it *memIterator) Next()         { it.keys = it.keys[1:] }
func (it *memIterator) Key() []byte   { return []byte(it.keys[0]) }
func (it *memIterator) Value() []byte { return bytes.Clone(it.m[it.keys[0]]) }
func (it *memIterator) Error() error  { return nil }
func (it *memIterator) Close() error  { return nil }

// chain is the alliance's state and the block the next tx runs in. It
// applies a tx as the app does: Prepare, Authorize, Exec on a Cache that is
// written only if Exec succeeds.
type chain struct {
	a      *alliance
	store  *memStore
	router *contracts.Router
	block  contracts.Block
}

var router = contracts.NewRouter(hekeys.Handlers()...)

// newChain returns the state right after genesis: epoch 1 open.
func newChain(tb testing.TB) *chain {
	tb.Helper()
	a := testAlliance(tb)
	st := &memStore{data: map[string][]byte{}}
	if err := accounts.InitGenesis(st, a.state); err != nil {
		tb.Fatalf("accounts.InitGenesis: %v", err)
	}
	if err := hekeys.InitGenesis(st); err != nil {
		tb.Fatalf("hekeys.InitGenesis: %v", err)
	}
	for _, acc := range []*pb.Account{
		{Address: a.doctor, Pubkey: pub(key("doctor")), Role: pb.Role_ROLE_DOCTOR, Hospital: "h1", Label: "doctor"},
		{Address: a.impostor, Pubkey: pub(key("impostor")), Role: pb.Role_ROLE_OPERATOR, Hospital: "h2", Label: "impostor"},
	} {
		if err := accounts.SetAccount(st, acc); err != nil {
			tb.Fatal(err)
		}
	}
	return &chain{a: a, store: st, router: router, block: contracts.Block{
		Height: 2, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ChainID: testChainID,
		Signers: a.signers(1, 2, 3, 4),
	}}
}

var (
	readyOnce sync.Once
	readyBase *chain
)

// commitAll has every member commit to its share.
func (c *chain) commitAll(tb testing.TB) {
	tb.Helper()
	for i := uint64(1); i <= 4; i++ {
		c.must(tb, c.op(i), hekeys.TypeKeyCommit, c.a.commit(i))
	}
}

// readyChain returns a copy of the state after the whole ceremony (every
// member committed, then posted, at height 2): epoch 1 is ready.
func readyChain(tb testing.TB) *chain {
	tb.Helper()
	readyOnce.Do(func() {
		c := newChain(tb)
		c.commitAll(tb)
		for i := uint64(1); i <= 4; i++ {
			if _, err := c.exec(c.a.members[i-1].operator, hekeys.TypeKeyShare, c.a.post(i)); err != nil {
				tb.Fatalf("member %d's key share: %v", i, err)
			}
		}
		readyBase = c
	})
	if readyBase == nil {
		tb.Fatal("the ceremony failed in an earlier test")
	}
	c := *readyBase
	c.store = &memStore{data: maps.Clone(readyBase.store.data)}
	c.block.Height = 3
	return &c
}

// exec runs one tx of signer (an account address) with payload msg.
func (c *chain) exec(signer, typ string, msg proto.Message) ([]contracts.Event, error) {
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return nil, err
	}
	return c.execRaw(signer, typ, payload, true)
}

// execRaw runs a tx with raw payload bytes. With authorize false it skips
// the role check the app makes, to test the contract's own checks.
func (c *chain) execRaw(signer, typ string, payload []byte, authorize bool) ([]contracts.Event, error) {
	acc, err := accounts.GetAccount(c.store, signer)
	if err != nil {
		return nil, err
	}
	if acc == nil {
		return nil, fmt.Errorf("test bug: no account %s", signer)
	}
	p, err := c.router.Prepare(typ, payload)
	if err != nil {
		return nil, err
	}
	if authorize {
		if err := p.Authorize(acc.Role); err != nil {
			return nil, err
		}
		// The app runs the state form check too, before the contract.
		if p.Handler.Check != nil {
			if err := p.Handler.Check(c.store, p.Msg); err != nil {
				return nil, err
			}
		}
	}
	cache := contracts.NewCache(c.store)
	ctx := contracts.NewContext(c.block, cache, acc, acc.Sequence)
	if err := p.Handler.Exec(ctx, p.Msg); err != nil {
		return nil, err
	}
	return ctx.Events(), cache.Write()
}

// must runs a tx that must succeed.
func (c *chain) must(tb testing.TB, signer, typ string, msg proto.Message) []contracts.Event {
	tb.Helper()
	ev, err := c.exec(signer, typ, msg)
	if err != nil {
		tb.Fatalf("%s by %s: %v", typ, signer, err)
	}
	return ev
}

// endBlock runs the chain's end-of-block work at height h.
func (c *chain) endBlock(tb testing.TB, h int64) []contracts.Event {
	tb.Helper()
	b := c.block
	b.Height = h
	cache := contracts.NewCache(c.store)
	ctx := contracts.NewBlockContext(b, cache)
	if err := hekeys.EndBlock(ctx); err != nil {
		tb.Fatalf("EndBlock(%d): %v", h, err)
	}
	if err := cache.Write(); err != nil {
		tb.Fatal(err)
	}
	return ctx.Events()
}

func (c *chain) op(i uint64) string { return c.a.members[i-1].operator }

func (c *chain) epoch(tb testing.TB) *pb.KeyEpoch {
	tb.Helper()
	ep, err := hekeys.GetEpoch(c.store, 1)
	if err != nil || ep == nil {
		tb.Fatalf("GetEpoch(1) = %v, %v", ep, err)
	}
	return ep
}

func (c *chain) request(tb testing.TB, id uint64) *pb.DecryptionRequest {
	tb.Helper()
	r, err := hekeys.GetRequest(c.store, id)
	if err != nil || r == nil {
		tb.Fatalf("GetRequest(%d) = %v, %v", id, r, err)
	}
	return r
}

func (c *chain) blob(tb testing.TB, h []byte) []byte {
	tb.Helper()
	b, err := hekeys.GetBlob(c.store, h)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// submit has member i submit ct and returns its hash.
func (c *chain) submit(tb testing.TB, i uint64, ct []byte) []byte {
	tb.Helper()
	c.must(tb, c.op(i), hekeys.TypeSubmit, &pb.SubmitCiphertext{Epoch: 1, Ciphertext: ct, Label: "test"})
	h := sha256.Sum256(ct)
	return h[:]
}

// ask is the researcher's request over hashes; it returns the new request.
func (c *chain) ask(tb testing.TB, hashes ...[]byte) *pb.DecryptionRequest {
	tb.Helper()
	ev := c.must(tb, c.a.researcher, hekeys.TypeRequest, &pb.RequestDecryption{CiphertextHashes: hashes, ResearcherKey: c.a.researcherPub})
	id := attrOf(ev, hekeys.EventRequestCreated, "id")
	var n uint64
	if _, err := fmt.Sscan(id, &n); err != nil {
		tb.Fatalf("request_created id %q: %v", id, err)
	}
	return c.request(tb, n)
}

// ksShare is member i's key-switching share for req, made from the
// aggregate the chain stored.
func (c *chain) ksShare(tb testing.TB, i uint64, req *pb.DecryptionRequest) *pb.PostKeySwitchShare {
	tb.Helper()
	s, err := c.a.p.GenKeySwitchShare(c.a.ts[i], req.ActiveSet, c.blob(tb, req.AggregateHash), c.blob(tb, req.TargetKeyHash))
	if err != nil {
		tb.Fatalf("member %d's key-switching share: %v", i, err)
	}
	return &pb.PostKeySwitchShare{Request: req.Id, Share: s}
}

// attrOf returns the value of key in the first event of type typ, or "".
func attrOf(events []contracts.Event, typ, key string) string {
	for _, e := range events {
		if e.Type == typ {
			for _, at := range e.Attrs {
				if at.Key == key {
					return at.Value
				}
			}
		}
	}
	return ""
}

// sum adds vectors slot by slot.
func sum(vs ...[]int64) []int64 {
	var out []int64
	for _, v := range vs {
		for i, x := range v {
			if i == len(out) {
				out = append(out, 0)
			}
			out[i] += x
		}
	}
	return out
}

// checkDecrypts decrypts a result blob with the researcher's key and
// compares the first slots with want; the rest must be zero.
func checkDecrypts(tb testing.TB, a *alliance, result []byte, want []int64) {
	tb.Helper()
	got, err := a.p.Decrypt(a.researcherPriv, result)
	if err != nil {
		tb.Fatalf("the researcher cannot decrypt the result: %v", err)
	}
	for i, g := range got {
		var w int64
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			tb.Fatalf("slot %d decrypts to %d, want %d (want %v, got %v...)", i, g, w, want, got[:len(want)])
		}
	}
}
