package hework

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cometbft/cometbft/libs/log"

	"github.com/medchain/medchain/contracts/hekeys"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/he"
	"github.com/medchain/medchain/node/keyring"
)

var (
	paramsOnce sync.Once
	params     *he.Params
)

func testParams(t testing.TB) *he.Params {
	t.Helper()
	paramsOnce.Do(func() {
		var err error
		if params, err = he.NewParams(he.DefaultLiteral()); err != nil {
			panic(err)
		}
	})
	return params
}

// syncBuffer is a log sink safe for the worker's goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// member is one hospital's home: a keyring with operator and seal keys.
type member struct {
	dir      string
	operator ed25519.PrivateKey
	seal     ed25519.PrivateKey
	index    uint64
	logs     *syncBuffer
}

func (m *member) addr() string { return pb.AddressOf(m.operator.Public().(ed25519.PublicKey)) }

func (m *member) keyring(t testing.TB) *keyring.Keyring {
	t.Helper()
	kr, err := keyring.Open(m.dir, keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// worker builds a fresh Worker on m's home, as a (re)started node would.
func (m *member) worker(t testing.TB, c *fakeChain) *Worker {
	t.Helper()
	w, err := New(Config{
		ChainID: c.chainID, Params: c.p, Operator: m.operator, Seal: m.seal, Secrets: m.keyring(t), Chain: c,
		Logger: log.NewTMLogger(m.logs), ResendAfter: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func newMembers(t testing.TB, c *fakeChain, n int) []*member {
	t.Helper()
	var ms []*member
	for i := 0; i < n; i++ {
		m := &member{dir: filepath.Join(t.TempDir(), "keyring"), logs: &syncBuffer{}}
		kr := m.keyring(t)
		for _, name := range []string{"operator", "seal"} {
			if _, err := kr.Add(name); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		if m.operator, err = kr.Signer("operator"); err != nil {
			t.Fatal(err)
		}
		if m.seal, err = kr.Signer("seal"); err != nil {
			t.Fatal(err)
		}
		_, pub, err := sealKeyPair(m.seal)
		if err != nil {
			t.Fatal(err)
		}
		m.index = c.addHospital(m.operator.Public().(ed25519.PublicKey), pub[:])
		ms = append(ms, m)
	}
	return ms
}

// runBlocks steps every worker then commits a block, up to max times,
// until done says so.
func runBlocks(t testing.TB, c *fakeChain, ws []*Worker, max int, done func() bool) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < max; i++ {
		if done() {
			return
		}
		for _, w := range ws {
			if w != nil {
				w.Step(ctx)
			}
		}
		c.commit()
	}
	if !done() {
		t.Fatalf("not done after %d blocks", max)
	}
}

func workers(t testing.TB, c *fakeChain, ms []*member) []*Worker {
	var ws []*Worker
	for _, m := range ms {
		ws = append(ws, m.worker(t, c))
	}
	return ws
}

func ceremonyDone(ws []*Worker) func() bool {
	return func() bool {
		for _, w := range ws {
			if w != nil && w.thresholds[CeremonyEpoch] == nil {
				return false
			}
		}
		return true
	}
}

func TestCeremonyAndDecryptionOnASimulatedChain(t *testing.T) {
	p := testParams(t)
	c := newFakeChain(t, p, 3, 20)
	ms := newMembers(t, c, 4)
	ws := workers(t, c, ms)
	runBlocks(t, c, ws, 10, ceremonyDone(ws))

	t.Run("every member posted exactly one key share and holds a threshold secret", func(t *testing.T) {
		for _, m := range ms {
			if n := len(c.sentOf(m.addr(), hekeys.TypeKeyShare)); n != 1 {
				t.Fatalf("member %d sent %d key shares", m.index, n)
			}
		}
		if c.publicKey() == nil {
			t.Fatal("epoch not ready")
		}
	})

	pk := c.publicKey()
	vectors := [][]int64{{1, -2, 3, 1 << 40}, {10, 20, -30, -(1 << 40)}, {-7, 0, 7, 5}, {100, 200, 300, 400}}
	want := make([]int64, 4)
	var cts [][]byte
	for _, v := range vectors {
		ct, err := p.EncodeEncrypt(pk, v)
		if err != nil {
			t.Fatal(err)
		}
		cts = append(cts, ct)
		for i := range want {
			want[i] += v[i]
		}
	}
	priv, pub, err := p.GenResearcherKey()
	if err != nil {
		t.Fatal(err)
	}
	id := c.request(pub, []uint64{2, 3, 4}, cts...)
	runBlocks(t, c, ws, 10, func() bool { return c.requests[id].Status != pb.DecryptionRequest_STATUS_PENDING })

	t.Run("the active set's shares switch the sum to the researcher, who decrypts it exactly", func(t *testing.T) {
		r := c.requests[id]
		if r.Status != pb.DecryptionRequest_STATUS_DONE {
			t.Fatalf("request %d: %v %s", id, r.Status, r.Reason)
		}
		got, err := p.Decrypt(priv, c.blobs[hexOf(r.ResultHash)])
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got[:4], want) || slices.ContainsFunc(got[4:], func(v int64) bool { return v != 0 }) {
			t.Fatalf("decrypted %v, want %v", got[:4], want)
		}
	})
	t.Run("the member outside the active set sent no key-switching share", func(t *testing.T) {
		if n := len(c.sentOf(ms[0].addr(), hekeys.TypeKSShare)); n != 0 {
			t.Fatalf("member 1 sent %d shares", n)
		}
		for _, m := range ms[1:] {
			if n := len(c.sentOf(m.addr(), hekeys.TypeKSShare)); n != 1 {
				t.Fatalf("member %d sent %d shares", m.index, n)
			}
		}
	})
	t.Run("finished requests' shares are pruned from the keyring", func(t *testing.T) {
		m := ms[1]
		kr := m.keyring(t)
		if names, _ := kr.ListData(); !slices.Contains(names, ksName(id)) {
			t.Fatalf("share not kept before pruning: %v", names)
		}
		ws[1].lastPrune = -pruneEvery
		ws[1].Step(context.Background())
		if names, _ := kr.ListData(); slices.Contains(names, ksName(id)) {
			t.Fatalf("share of a done request kept: %v", names)
		}
	})
	t.Run("no secret reaches the logs", func(t *testing.T) {
		for _, m := range ms {
			ts, _ := m.keyring(t).OpenData(thresholdName(1))
			r, err := decodeRecord(ts)
			if err != nil {
				t.Fatal(err)
			}
			f := r.Fields[0]
			if bytes.Contains([]byte(m.logs.String()), f[len(f)-64:len(f)-32]) {
				t.Fatal("threshold secret bytes in the log")
			}
		}
	})
}

func hexOf(b []byte) string { return strings.ToLower(bytesHex(b)) }

func bytesHex(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, x := range b {
		out = append(out, digits[x>>4], digits[x&15])
	}
	return string(out)
}

func TestRestartResendsTheSameKeyShare(t *testing.T) {
	p := testParams(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		crash func(c *fakeChain)
	}{
		{"after a crash that lost the mempool", func(c *fakeChain) { c.dropMempool() }},
		{"while the first tx is still pending", func(c *fakeChain) {}},
	}
	for _, tt := range tests {
		t.Run("a restarted worker sends the same key share bytes "+tt.name, func(t *testing.T) {
			c := newFakeChain(t, p, 2, 20)
			ms := newMembers(t, c, 3)
			m := ms[0]
			m.worker(t, c).Step(ctx)
			first := c.sentOf(m.addr(), hekeys.TypeKeyShare)
			if len(first) != 1 {
				t.Fatalf("sent %d key shares", len(first))
			}
			tt.crash(c)
			m.worker(t, c).Step(ctx)
			all := c.sentOf(m.addr(), hekeys.TypeKeyShare)
			for i, pl := range all {
				if !bytes.Equal(pl, first[0]) {
					t.Fatalf("send %d differs from the first: the share was regenerated", i)
				}
			}
			c.commit()
			if c.keyShares[m.index] == nil || !bytes.Equal(c.keyShares[m.index].PublicKeyShareHash, blobHash(c.pkShares[m.index])) {
				t.Fatal("share not on chain")
			}
			if names, _ := m.keyring(t).ListData(); !slices.Equal(names, []string{ceremonyName(1)}) {
				t.Fatalf("keyring holds %v", names)
			}
		})
	}
	t.Run("a broadcast that fails after the share was sealed is retried with the same bytes", func(t *testing.T) {
		c := newFakeChain(t, p, 2, 20)
		ms := newMembers(t, c, 3)
		m := ms[0]
		c.failBroadcasts = 1
		w := m.worker(t, c)
		w.Step(ctx)
		if n := len(c.sentOf(m.addr(), hekeys.TypeKeyShare)); n != 0 {
			t.Fatalf("sent %d", n)
		}
		if !strings.Contains(m.logs.String(), "connection lost") {
			t.Fatalf("the failure was not logged:\n%s", m.logs)
		}
		sealed, err := m.keyring(t).OpenData(ceremonyName(1))
		if err != nil {
			t.Fatalf("the share was not sealed before sending: %v", err)
		}
		r, _ := decodeRecord(sealed)
		c.commit()
		m.worker(t, c).Step(ctx) // a restart retries at once
		got := c.sentOf(m.addr(), hekeys.TypeKeyShare)
		if len(got) != 1 || !bytes.Equal(got[0], r.Fields[2]) {
			t.Fatal("the retry did not send the sealed payload")
		}
	})
	t.Run("a tx lost from the mempool is sent again after ResendAfter blocks, same bytes", func(t *testing.T) {
		c := newFakeChain(t, p, 2, 20)
		ms := newMembers(t, c, 3)
		m := ms[0]
		w := m.worker(t, c)
		w.Step(ctx)
		c.dropMempool()
		for i := 0; i < 2; i++ {
			c.commit()
			w.Step(ctx)
		}
		if n := len(c.sentOf(m.addr(), hekeys.TypeKeyShare)); n != 1 {
			t.Fatalf("resent too early: %d sends", n)
		}
		c.commit()
		w.Step(ctx)
		got := c.sentOf(m.addr(), hekeys.TypeKeyShare)
		if len(got) != 2 || !bytes.Equal(got[0], got[1]) {
			t.Fatalf("%d sends, equal=%v", len(got), len(got) == 2 && bytes.Equal(got[0], got[1]))
		}
	})
	t.Run("a tx that lost its nonce to another tx of the operator is resent, same bytes, next nonce", func(t *testing.T) {
		c := newFakeChain(t, p, 2, 20)
		ms := newMembers(t, c, 3)
		m := ms[0]
		w := m.worker(t, c)
		w.Step(ctx)
		// Another process of the hospital uses the same nonce first.
		c.dropMempool()
		c.accounts[m.addr()].Sequence++
		c.results[string(w.inflight["key_share/1"].hash)] = TxResult{Height: c.height, Code: codeNonceReplayed, Log: "nonce_replayed"}
		c.commit()
		w.Step(ctx)
		c.mu.Lock()
		sent := slices.Clone(c.sent)
		c.mu.Unlock()
		if len(sent) != 2 || !bytes.Equal(sent[0].payload, sent[1].payload) || sent[1].nonce != sent[0].nonce+1 {
			t.Fatalf("sends: %+v", sent)
		}
		c.commit()
		if c.keyShares[m.index] == nil {
			t.Fatal("share not on chain")
		}
	})
}

func TestLostSecretIsNeverRegenerated(t *testing.T) {
	p := testParams(t)
	ctx := context.Background()
	c := newFakeChain(t, p, 2, 20)
	ms := newMembers(t, c, 3)
	m := ms[0]
	m.worker(t, c).Step(ctx)
	c.commit()
	// The home loses its sealed ceremony (restored from an old backup).
	if err := os.Remove(filepath.Join(m.dir, ceremonyName(1)+".secret")); err != nil {
		t.Fatal(err)
	}
	rest := workers(t, c, ms[1:])
	w := m.worker(t, c)
	runBlocks(t, c, append(rest, w), 6, ceremonyDone(rest))
	if n := len(c.sentOf(m.addr(), hekeys.TypeKeyShare)); n != 1 {
		t.Fatalf("a second key share was sent: %d", n)
	}
	if w.thresholds[1] != nil {
		t.Fatal("a threshold secret without the ceremony secret")
	}
	if !strings.Contains(m.logs.String(), "its secret is not in this home") {
		t.Fatalf("the loss was not reported:\n%s", m.logs)
	}
}

func TestRestartResendsTheSameKeySwitchShare(t *testing.T) {
	p := testParams(t)
	ctx := context.Background()
	c := newFakeChain(t, p, 2, 20)
	ms := newMembers(t, c, 3)
	ws := workers(t, c, ms)
	runBlocks(t, c, ws, 10, ceremonyDone(ws))
	ct, err := p.EncodeEncrypt(c.publicKey(), []int64{42})
	if err != nil {
		t.Fatal(err)
	}
	priv, pub, _ := p.GenResearcherKey()
	id := c.request(pub, []uint64{1, 3}, ct)
	ws[0].Step(ctx)
	first := c.sentOf(ms[0].addr(), hekeys.TypeKSShare)
	if len(first) != 1 {
		t.Fatalf("sent %d", len(first))
	}
	c.dropMempool() // node 1 crashes with its share unsent
	c.commit()
	restarted := ms[0].worker(t, c)
	restarted.Step(ctx)
	all := c.sentOf(ms[0].addr(), hekeys.TypeKSShare)
	if len(all) != 2 || !bytes.Equal(all[0], all[1]) {
		t.Fatal("the restarted worker did not resend the same share")
	}
	runBlocks(t, c, []*Worker{restarted, ws[1], ws[2]}, 5, func() bool { return c.requests[id].Status != pb.DecryptionRequest_STATUS_PENDING })
	got, err := p.Decrypt(priv, c.blobs[hexOf(c.requests[id].ResultHash)])
	if err != nil || got[0] != 42 {
		t.Fatalf("decrypted %v, %v", got[:1], err)
	}
}

func TestWorkerRefusesWhatItCannotUse(t *testing.T) {
	p := testParams(t)
	ctx := context.Background()
	t.Run("a seal key on chain that is not this home's stops the ceremony before anything is generated", func(t *testing.T) {
		c := newFakeChain(t, p, 2, 20)
		ms := newMembers(t, c, 3)
		c.hospitals[0].SealPubkey = c.hospitals[1].SealPubkey
		ms[0].worker(t, c).Step(ctx)
		if n := len(c.sentOf(ms[0].addr(), hekeys.TypeKeyShare)); n != 0 {
			t.Fatal("sent a share")
		}
		if names, _ := ms[0].keyring(t).ListData(); len(names) != 0 {
			t.Fatalf("generated %v", names)
		}
		if !strings.Contains(ms[0].logs.String(), "is not this home's seal key") {
			t.Fatalf("log:\n%s", ms[0].logs)
		}
	})
	t.Run("a record sealed for another chain is refused, not replaced", func(t *testing.T) {
		c := newFakeChain(t, p, 2, 20)
		ms := newMembers(t, c, 3)
		ms[0].worker(t, c).Step(ctx)
		c.dropMempool()
		c.chainID = "other-chain"
		ms[0].worker(t, c).Step(ctx)
		if n := len(c.sentOf(ms[0].addr(), hekeys.TypeKeyShare)); n != 1 {
			t.Fatalf("%d sends", n)
		}
		if !strings.Contains(ms[0].logs.String(), "for chain \\\"medchain-test\\\"") {
			t.Fatalf("log:\n%s", ms[0].logs)
		}
	})
	t.Run("a failing duty backs off instead of retrying every block", func(t *testing.T) {
		c := newFakeChain(t, p, 2, 20)
		ms := newMembers(t, c, 3)
		c.hospitals[0].SealPubkey = c.hospitals[1].SealPubkey
		w := ms[0].worker(t, c)
		for i := 0; i < 12; i++ {
			w.Step(ctx)
			c.commit()
		}
		if n := strings.Count(ms[0].logs.String(), "duty failed"); n < 3 || n > 5 {
			t.Fatalf("%d failures logged in 12 blocks, want back-off (1, 2, 4, 8 blocks)", n)
		}
	})
}

func TestAPanicInADutyDoesNotStopTheWorker(t *testing.T) {
	p := testParams(t)
	c := newFakeChain(t, p, 2, 20)
	ms := newMembers(t, c, 2)
	c.panicOn = "/he/epoch/1"
	w := ms[0].worker(t, c)
	w.Step(context.Background()) // must not panic
	if !strings.Contains(ms[0].logs.String(), "HE worker bug (panic)") || w.backoff["ceremony"] == nil {
		t.Fatalf("the panic was not turned into a backed-off duty failure:\n%s", ms[0].logs)
	}
	c.panicOn = ""
	ws := []*Worker{w, ms[1].worker(t, c)}
	runBlocks(t, c, ws, 10, ceremonyDone(ws))
}

func TestStartStop(t *testing.T) {
	p := testParams(t)
	c := newFakeChain(t, p, 2, 20)
	ms := newMembers(t, c, 2)
	wake := make(chan struct{}, 1)
	w, err := New(Config{ChainID: c.chainID, Params: p, Operator: ms[0].operator, Seal: ms[0].seal,
		Secrets: ms[0].keyring(t), Chain: c, Logger: log.NewTMLogger(ms[0].logs), Wake: wake})
	if err != nil {
		t.Fatal(err)
	}
	w.Start()
	wake <- struct{}{}
	w.Stop()
	w.Stop() // idempotent
	if !strings.Contains(ms[0].logs.String(), "HE worker stopped") {
		t.Fatalf("log:\n%s", ms[0].logs)
	}
}

func TestRequestPastItsDeadline(t *testing.T) {
	p := testParams(t)
	ctx := context.Background()
	c := newFakeChain(t, p, 2, 3)
	ms := newMembers(t, c, 3)
	ws := workers(t, c, ms)
	runBlocks(t, c, ws, 10, ceremonyDone(ws))
	ct, err := p.EncodeEncrypt(c.publicKey(), []int64{1})
	if err != nil {
		t.Fatal(err)
	}
	_, pub, _ := p.GenResearcherKey()
	id := c.request(pub, []uint64{1, 2}, ct)
	w := ws[0]
	w.Step(ctx)
	c.dropMempool() // member 1's share is lost; member 2 never answers
	for c.requests[id].Status == pb.DecryptionRequest_STATUS_PENDING {
		c.commit()
		w.Step(ctx)
	}
	t.Run("a share is not sent again once the deadline has passed", func(t *testing.T) {
		if n := len(c.sentOf(ms[0].addr(), hekeys.TypeKSShare)); n != 1 {
			t.Fatalf("%d sends", n)
		}
	})
	t.Run("the worker forgets a finished request", func(t *testing.T) {
		c.commit()
		w.Step(ctx)
		if len(w.inflight) != 0 || len(w.ksShares) != 0 {
			t.Fatalf("inflight %v, cached shares %d", w.inflight, len(w.ksShares))
		}
	})
}
