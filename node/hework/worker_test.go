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
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/hekeys"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/he"
	"github.com/medchain/medchain/node/chainrpc"
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

// newMembers makes n homes and registers them as genesis members of c.
func newMembers(t testing.TB, c *fakeChain, n int) []*member {
	t.Helper()
	ms := newHomes(t, n)
	for _, m := range ms {
		_, pub, err := sealKeyPair(m.seal)
		if err != nil {
			t.Fatal(err)
		}
		m.index = c.addHospital(m.operator.Public().(ed25519.PublicKey), pub[:])
	}
	return ms
}

// newHomes makes n hospital homes, each with a keyring holding its
// operator and seal keys, that no chain knows yet.
func newHomes(t testing.TB, n int) []*member {
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

// ceremonyDone reports whether every worker of ws holds its threshold
// secret of key epoch 1.
func ceremonyDone(ws []*Worker) func() bool { return epochDone(1, ws) }

// epochDone reports whether every worker of ws holds its threshold secret
// of key epoch e.
func epochDone(e uint64, ws []*Worker) func() bool {
	return func() bool {
		for _, w := range ws {
			if w != nil && w.thresholds[e] == nil {
				return false
			}
		}
		return true
	}
}

// commitAll has every member's worker commit to its key share and commits
// the block, so the next step of any member's worker posts its share.
func commitAll(t testing.TB, c *fakeChain, ms []*member) {
	t.Helper()
	runBlocks(t, c, workers(t, c, ms), 3, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.epoch.Committed) == len(c.epoch.Members)
	})
}

// sealedPayload returns the "he.key_share" payload sealed in m's keyring.
func sealedPayload(t testing.TB, m *member) []byte {
	t.Helper()
	raw, err := m.keyring(t).OpenData(ceremonyName(1))
	if err != nil {
		t.Fatalf("member %d's ceremony is not sealed: %v", m.index, err)
	}
	r, err := decodeRecord(raw)
	if err != nil {
		t.Fatal(err)
	}
	return r.Fields[2]
}

// commitmentOf decodes a "he.key_commit" payload.
func commitmentOf(t testing.TB, payload []byte) *pb.CommitKeyShare {
	t.Helper()
	var m pb.CommitKeyShare
	if err := proto.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	return &m
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
	t.Run("every member committed once, before any share, to the share it then posted", func(t *testing.T) {
		if !slices.Equal(c.epoch.Committed, []uint64{1, 2, 3, 4}) {
			t.Fatalf("committed %v", c.epoch.Committed)
		}
		var firstShare = -1
		for i, s := range c.sent {
			if s.typ == hekeys.TypeKeyShare && firstShare < 0 {
				firstShare = i
			}
			if s.typ == hekeys.TypeKeyCommit && firstShare >= 0 {
				t.Fatalf("a commitment (tx %d) was sent after a share (tx %d)", i, firstShare)
			}
		}
		for _, m := range ms {
			commits := c.sentOf(m.addr(), hekeys.TypeKeyCommit)
			if len(commits) != 1 {
				t.Fatalf("member %d sent %d commitments", m.index, len(commits))
			}
			cm := commitmentOf(t, commits[0])
			if cm.Epoch != 1 || !bytes.Equal(cm.Commitment, hekeys.Commitment(c.chainID, 1, m.index, c.pkShares[m.index])) || !bytes.Equal(c.commits[m.index], cm.Commitment) {
				t.Fatalf("member %d's commitment is not the commitment to the share it posted", m.index)
			}
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
	t.Run("a public request gets decryption shares and its sum in clear", func(t *testing.T) {
		cts := make([][]byte, 0, len(vectors))
		for _, v := range vectors {
			ct, err := p.EncodeEncrypt(pk, v)
			if err != nil {
				t.Fatal(err)
			}
			cts = append(cts, ct)
		}
		pid := c.request(nil, []uint64{1, 2, 4}, cts...)
		runBlocks(t, c, ws, 10, func() bool { return c.requests[pid].Status != pb.DecryptionRequest_STATUS_PENDING })
		r := c.requests[pid]
		if r.Status != pb.DecryptionRequest_STATUS_DONE || !slices.Equal(r.ResultValues[:4], want) {
			t.Fatalf("public request %d: %v %s, values %v, want %v", pid, r.Status, r.Reason, r.ResultValues[:min(4, len(r.ResultValues))], want)
		}
		if n := len(c.sentOf(ms[2].addr(), hekeys.TypeKSShare)); n != 1 {
			t.Fatalf("member 3, outside the public request's set, sent %d shares in all, want 1", n)
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
		t.Run("a restarted worker sends the same commitment, computed from its sealed payload, "+tt.name, func(t *testing.T) {
			c := newFakeChain(t, p, 2, 20)
			ms := newMembers(t, c, 3)
			m := ms[0]
			m.worker(t, c).Step(ctx)
			first := c.sentOf(m.addr(), hekeys.TypeKeyCommit)
			if len(first) != 1 {
				t.Fatalf("sent %d commitments", len(first))
			}
			if n := len(c.sentOf(m.addr(), hekeys.TypeKeyShare)); n != 0 {
				t.Fatalf("sent %d key shares before every member committed", n)
			}
			tt.crash(c)
			m.worker(t, c).Step(ctx)
			all := c.sentOf(m.addr(), hekeys.TypeKeyCommit)
			for i, pl := range all {
				if !bytes.Equal(pl, first[0]) {
					t.Fatalf("commitment %d differs from the first: the share was regenerated", i)
				}
			}
			var sealed pb.PostKeyShare
			if err := proto.Unmarshal(sealedPayload(t, m), &sealed); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(commitmentOf(t, first[0]).Commitment, hekeys.Commitment(c.chainID, 1, m.index, sealed.PublicKeyShare)) {
				t.Fatal("the commitment is not the commitment to the sealed public-key share")
			}
			c.commit()
			if !bytes.Equal(c.commits[m.index], hekeys.Commitment(c.chainID, 1, m.index, sealed.PublicKeyShare)) {
				t.Fatal("commitment not on chain")
			}
			if names, _ := m.keyring(t).ListData(); !slices.Equal(names, []string{ceremonyName(1)}) {
				t.Fatalf("keyring holds %v", names)
			}
		})
		t.Run("a restarted worker sends the same key share bytes "+tt.name, func(t *testing.T) {
			c := newFakeChain(t, p, 2, 20)
			ms := newMembers(t, c, 3)
			m := ms[0]
			commitAll(t, c, ms)
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
			if !bytes.Equal(first[0], sealedPayload(t, m)) {
				t.Fatal("the share sent is not the sealed payload")
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
		if n := len(c.sentOf(m.addr(), hekeys.TypeKeyCommit)); n != 0 {
			t.Fatalf("sent %d", n)
		}
		if !strings.Contains(m.logs.String(), "connection lost") {
			t.Fatalf("the failure was not logged:\n%s", m.logs)
		}
		payload := sealedPayload(t, m) // sealed before anything was sent
		var sealed pb.PostKeyShare
		if err := proto.Unmarshal(payload, &sealed); err != nil {
			t.Fatal(err)
		}
		c.commit()
		m.worker(t, c).Step(ctx) // a restart retries at once
		got := c.sentOf(m.addr(), hekeys.TypeKeyCommit)
		if len(got) != 1 || !bytes.Equal(commitmentOf(t, got[0]).Commitment, hekeys.Commitment(c.chainID, 1, m.index, sealed.PublicKeyShare)) {
			t.Fatal("the retry did not commit to the sealed share")
		}
		c.commit()
		commitAll(t, c, ms[1:])
		c.failBroadcasts = 1
		m.worker(t, c).Step(ctx)
		m.worker(t, c).Step(ctx)
		shares := c.sentOf(m.addr(), hekeys.TypeKeyShare)
		if len(shares) != 1 || !bytes.Equal(shares[0], payload) {
			t.Fatal("the retried share is not the sealed payload")
		}
	})
	t.Run("a tx lost from the mempool is sent again after ResendAfter blocks, same bytes", func(t *testing.T) {
		c := newFakeChain(t, p, 2, 20)
		ms := newMembers(t, c, 3)
		m := ms[0]
		commitAll(t, c, ms)
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
		commitAll(t, c, ms)
		w := m.worker(t, c)
		w.Step(ctx)
		// Another process of the hospital uses the same nonce first.
		c.dropMempool()
		c.accounts[m.addr()].Sequence++
		c.results[string(w.inflight["key_share/1"].hash)] = chainrpc.TxResult{Height: c.height, Code: codeNonceReplayed, Log: "nonce_replayed"}
		c.commit()
		w.Step(ctx)
		c.mu.Lock()
		var sent []sentTx
		for _, s := range c.sent {
			if s.signer == m.addr() && s.typ == hekeys.TypeKeyShare {
				sent = append(sent, s)
			}
		}
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
	t.Run("lost after its commitment, before its share: nothing is generated or sent again", func(t *testing.T) {
		c := newFakeChain(t, p, 2, 20)
		ms := newMembers(t, c, 3)
		m := ms[0]
		m.worker(t, c).Step(ctx)
		c.commit()
		if !slices.Contains(c.epoch.Committed, m.index) {
			t.Fatal("not committed")
		}
		if err := os.Remove(filepath.Join(m.dir, ceremonyName(1)+".secret")); err != nil {
			t.Fatal(err)
		}
		ws := append(workers(t, c, ms[1:]), m.worker(t, c))
		for i := 0; i < 6; i++ {
			for _, w := range ws {
				w.Step(ctx)
			}
			c.commit()
		}
		if n := len(c.sentOf(m.addr(), hekeys.TypeKeyCommit)); n != 1 {
			t.Fatalf("%d commitments sent", n)
		}
		if n := len(c.sentOf(m.addr(), hekeys.TypeKeyShare)); n != 0 {
			t.Fatalf("a regenerated share was sent: %d", n)
		}
		if names, _ := m.keyring(t).ListData(); len(names) != 0 {
			t.Fatalf("a new ceremony was generated: %v", names)
		}
		if !strings.Contains(m.logs.String(), "its secret is not in this home") {
			t.Fatalf("the loss was not reported:\n%s", m.logs)
		}
		if c.epoch.Ready {
			t.Fatal("the epoch completed without member 1's committed share")
		}
	})
	t.Run("a keyring whose share is not the one committed to on chain posts nothing", func(t *testing.T) {
		c := newFakeChain(t, p, 2, 20)
		ms := newMembers(t, c, 3)
		m := ms[0]
		commitAll(t, c, ms)
		c.commits[m.index] = blobHash([]byte("another share"))
		m.worker(t, c).Step(ctx)
		if n := len(c.sentOf(m.addr(), hekeys.TypeKeyShare)); n != 0 {
			t.Fatalf("sent %d shares", n)
		}
		if !strings.Contains(m.logs.String(), "is not that of the key share in this home's keyring") {
			t.Fatalf("the mismatch was not reported:\n%s", m.logs)
		}
	})
	c := newFakeChain(t, p, 2, 20)
	ms := newMembers(t, c, 3)
	m := ms[0]
	commitAll(t, c, ms)
	m.worker(t, c).Step(ctx)
	c.commit()
	if c.keyShares[m.index] == nil {
		t.Fatal("share not on chain")
	}
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
		if n := len(c.sentOf(ms[0].addr(), hekeys.TypeKeyShare)) + len(c.sentOf(ms[0].addr(), hekeys.TypeKeyCommit)); n != 0 {
			t.Fatal("sent a commitment or share")
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
		if n := len(c.sentOf(ms[0].addr(), hekeys.TypeKeyCommit)); n != 1 {
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
	if !strings.Contains(ms[0].logs.String(), "HE worker bug (panic)") || w.backoff["epochs"] == nil {
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

func TestNoShareIsPostedBeforeEveryMemberCommitted(t *testing.T) {
	p := testParams(t)
	c := newFakeChain(t, p, 2, 20)
	ms := newMembers(t, c, 3)
	ws := workers(t, c, ms[:2]) // member 3's node is down
	for i := 0; i < 5; i++ {
		for _, w := range ws {
			w.Step(context.Background())
		}
		c.commit()
	}
	if !slices.Equal(c.epoch.Committed, []uint64{1, 2}) {
		t.Fatalf("committed %v", c.epoch.Committed)
	}
	for _, m := range ms[:2] {
		if n := len(c.sentOf(m.addr(), hekeys.TypeKeyShare)); n != 0 {
			t.Fatalf("member %d revealed its share before member 3 committed", m.index)
		}
		if n := len(c.sentOf(m.addr(), hekeys.TypeKeyCommit)); n != 1 {
			t.Fatalf("member %d sent %d commitments", m.index, n)
		}
	}
	ws = append(ws, ms[2].worker(t, c))
	runBlocks(t, c, ws, 10, ceremonyDone(ws))
	for _, m := range ms {
		if n := len(c.sentOf(m.addr(), hekeys.TypeKeyCommit)); n != 1 {
			t.Fatalf("member %d sent %d commitments", m.index, n)
		}
	}
}

// TestFakeChainEnforcesTheCommitRules: the simulated chain refuses what the
// hekeys contract refuses, so the tests above exercise the real rules.
func TestFakeChainEnforcesTheCommitRules(t *testing.T) {
	p := testParams(t)
	c := newFakeChain(t, p, 2, 20)
	ms := newMembers(t, c, 3)
	// Every member's node generates and seals its ceremony; nothing lands.
	for _, m := range ms {
		m.worker(t, c).Step(context.Background())
	}
	c.dropMempool()
	payloads := map[uint64]*pb.PostKeyShare{}
	for _, m := range ms {
		var pl pb.PostKeyShare
		if err := proto.Unmarshal(sealedPayload(t, m), &pl); err != nil {
			t.Fatal(err)
		}
		payloads[m.index] = &pl
	}
	commit := func(i uint64) *pb.CommitKeyShare {
		return &pb.CommitKeyShare{Epoch: 1, Commitment: hekeys.Commitment(c.chainID, 1, i, payloads[i].PublicKeyShare)}
	}
	outsider := ed25519.NewKeyFromSeed(make([]byte, 32))
	outsiderAddr := pb.AddressOf(outsider.Public().(ed25519.PublicKey))
	c.accounts[outsiderAddr] = &pb.Account{Address: outsiderAddr, Pubkey: outsider.Public().(ed25519.PublicKey), Role: pb.Role_ROLE_DOCTOR}
	steps := []struct {
		name   string
		signer ed25519.PrivateKey
		typ    string
		msg    proto.Message
		want   uint32
	}{
		{"member 1 commits", ms[0].operator, hekeys.TypeKeyCommit, commit(1), 0},
		{"member 2 commits", ms[1].operator, hekeys.TypeKeyCommit, commit(2), 0},
		{"a share before every member committed is wrong_state", ms[0].operator, hekeys.TypeKeyShare, payloads[1], codeWrongState},
		{"a second commitment is already_exists", ms[0].operator, hekeys.TypeKeyCommit, commit(1), codeExists},
		{"a commitment by a non-member is unauthorized", outsider, hekeys.TypeKeyCommit, commit(3), codeUnauthorized},
		{"a commitment that is not 32 bytes is invalid_payload", ms[2].operator, hekeys.TypeKeyCommit,
			&pb.CommitKeyShare{Epoch: 1, Commitment: make([]byte, 31)}, codeInvalidPayload},
		{"member 3 commits", ms[2].operator, hekeys.TypeKeyCommit, commit(3), 0},
		{"a share not matching the commitment is invalid_payload", ms[0].operator, hekeys.TypeKeyShare,
			&pb.PostKeyShare{Epoch: 1, PublicKeyShare: payloads[2].PublicKeyShare, Shares: payloads[1].Shares}, codeInvalidPayload},
		{"member 1 posts its committed share", ms[0].operator, hekeys.TypeKeyShare, payloads[1], 0},
		{"member 2 posts its committed share", ms[1].operator, hekeys.TypeKeyShare, payloads[2], 0},
		{"member 3 posts its committed share", ms[2].operator, hekeys.TypeKeyShare, payloads[3], 0},
		{"a commitment after the epoch is ready is wrong_state", ms[0].operator, hekeys.TypeKeyCommit, commit(1), codeWrongState},
	}
	for _, st := range steps {
		addr := pb.AddressOf(st.signer.Public().(ed25519.PublicKey))
		raw, err := tx.Build(st.signer, c.chainID, addr, c.accounts[addr].Sequence, st.typ, st.msg)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := c.Broadcast(context.Background(), raw); err != nil || b.Code != 0 {
			t.Fatalf("%s: broadcast %+v, %v", st.name, b, err)
		}
		c.commit()
		if got := c.results[string(tx.Hash(raw))]; got.Code != st.want {
			t.Fatalf("%s: code %d (%s), want %d", st.name, got.Code, got.Log, st.want)
		}
	}
	if !c.epoch.Ready {
		t.Fatal("the epoch is not ready")
	}
}
