package hework

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts/hekeys"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/he"
)

// errorLines returns the lines a worker logged at Error level.
func errorLines(logs string) []string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.HasPrefix(l, "E[") {
			out = append(out, l)
		}
	}
	return out
}

// sentEpochs returns the key epochs of the "he.key_commit" and
// "he.key_share" txs signer sent, in order.
func sentEpochs(t testing.TB, c *fakeChain, signer string) (commits, shares []uint64) {
	t.Helper()
	for _, pl := range c.sentOf(signer, hekeys.TypeKeyCommit) {
		commits = append(commits, commitmentOf(t, pl).Epoch)
	}
	for _, pl := range c.sentOf(signer, hekeys.TypeKeyShare) {
		var m pb.PostKeyShare
		if err := proto.Unmarshal(pl, &m); err != nil {
			t.Fatal(err)
		}
		shares = append(shares, m.Epoch)
	}
	return commits, shares
}

// ksRequests returns the requests signer sent key-switching shares to.
func ksRequests(t testing.TB, c *fakeChain, signer string) []uint64 {
	t.Helper()
	var out []uint64
	for _, pl := range c.sentOf(signer, hekeys.TypeKSShare) {
		var m pb.PostKeySwitchShare
		if err := proto.Unmarshal(pl, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m.Request)
	}
	return out
}

func encrypt(t testing.TB, p *he.Params, pk []byte, v ...int64) []byte {
	t.Helper()
	if pk == nil {
		t.Fatal("no collective key")
	}
	ct, err := p.EncodeEncrypt(pk, v)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

// decryptResult decrypts request id's result with the researcher key priv.
func decryptResult(t testing.TB, c *fakeChain, priv []byte, id uint64, n int) []int64 {
	t.Helper()
	c.mu.Lock()
	r := proto.Clone(c.requests[id]).(*pb.DecryptionRequest)
	out := c.blobs[hexOf(r.ResultHash)]
	c.mu.Unlock()
	if r.Status != pb.DecryptionRequest_STATUS_DONE {
		t.Fatalf("request %d: %v %s", id, r.Status, r.Reason)
	}
	got, err := c.p.Decrypt(priv, out)
	if err != nil {
		t.Fatal(err)
	}
	return got[:n]
}

// stepBlocks steps every worker then commits a block, n times.
func stepBlocks(c *fakeChain, ws []*Worker, n int) {
	for range n {
		for _, w := range ws {
			w.Step(context.Background())
		}
		c.commit()
	}
}

func requestOver(c *fakeChain, ids ...uint64) func() bool {
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, id := range ids {
			if c.requests[id].Status == pb.DecryptionRequest_STATUS_PENDING {
				return false
			}
		}
		return true
	}
}

func TestEveryMemberCompletesEveryKeyEpoch(t *testing.T) {
	p := testParams(t)
	ctx := context.Background()
	c := newFakeChain(t, p, 2, 20)
	ms := newMembers(t, c, 3)
	ws := workers(t, c, ms)
	runBlocks(t, c, ws, 10, epochDone(1, ws))
	ct1 := encrypt(t, p, c.publicKeyOf(1), 5, -6)

	e := c.openEpoch(3) // a vote raised t to 3
	runBlocks(t, c, ws, 12, epochDone(e, ws))

	t.Run("every member committed to and posted one key share per epoch, epoch after epoch", func(t *testing.T) {
		for _, m := range ms {
			commits, shares := sentEpochs(t, c, m.addr())
			if !slices.Equal(commits, []uint64{1, 2}) || !slices.Equal(shares, []uint64{1, 2}) {
				t.Fatalf("member %d: commitments for epochs %v, key shares for epochs %v", m.index, commits, shares)
			}
		}
	})
	t.Run("the new epoch has its own collective key and threshold", func(t *testing.T) {
		ep := c.epochState(e)
		if !ep.Ready || ep.Threshold != 3 || slices.Equal(c.publicKeyOf(1), c.publicKeyOf(e)) {
			t.Fatalf("epoch %d: ready %v, t %d, same key as epoch 1: %v", e, ep.Ready, ep.Threshold, slices.Equal(c.publicKeyOf(1), c.publicKeyOf(e)))
		}
		for _, w := range ws {
			if ts := w.thresholds[e]; ts.Threshold() != 3 || w.thresholds[1].Threshold() != 2 {
				t.Fatalf("member %d: thresholds %d and %d", ts.Index(), w.thresholds[1].Threshold(), ts.Threshold())
			}
		}
	})

	priv, pub, err := p.GenResearcherKey()
	if err != nil {
		t.Fatal(err)
	}
	id2 := c.requestIn(e, pub, []uint64{1, 2, 3}, encrypt(t, p, c.publicKeyOf(e), 7, 8))
	id1 := c.requestIn(1, pub, []uint64{1, 3}, ct1)
	runBlocks(t, c, ws, 10, requestOver(c, id1, id2))

	t.Run("a request under epoch 2 is answered with epoch-2 shares", func(t *testing.T) {
		if got := decryptResult(t, c, priv, id2, 2); !slices.Equal(got, []int64{7, 8}) {
			t.Fatalf("decrypted %v, want [7 8]", got)
		}
		for _, m := range ms {
			raw, err := m.keyring(t).OpenData(ksName(id2))
			if err != nil {
				t.Fatal(err)
			}
			if r, err := decodeRecord(raw); err != nil || r.Epoch != e {
				t.Fatalf("member %d's share of request %d: %+v, %v", m.index, id2, r, err)
			}
		}
	})
	t.Run("a request under epoch 1 still works, answered by its active set only", func(t *testing.T) {
		if got := decryptResult(t, c, priv, id1, 2); !slices.Equal(got, []int64{5, -6}) {
			t.Fatalf("decrypted %v, want [5 -6]", got)
		}
		if got := ksRequests(t, c, ms[1].addr()); slices.Contains(got, id1) {
			t.Fatalf("member 2, outside request %d's active set, answered it", id1)
		}
	})
	t.Run("a restarted worker finds every epoch and loads its secrets, sending nothing", func(t *testing.T) {
		before := len(c.sentBy(ms[0].addr()))
		w := ms[0].worker(t, c)
		w.Step(ctx)
		if w.lastEpoch != 2 || w.thresholds[1] == nil || w.thresholds[2] == nil {
			t.Fatalf("last epoch %d, thresholds %v", w.lastEpoch, w.thresholds)
		}
		if n := len(c.sentBy(ms[0].addr())); n != before {
			t.Fatalf("sent %d txs", n-before)
		}
	})
	t.Run("no error was logged", func(t *testing.T) {
		for _, m := range ms {
			if l := errorLines(m.logs.String()); len(l) != 0 {
				t.Fatalf("member %d: %q", m.index, l)
			}
		}
	})
}

func TestAHospitalAdmittedLaterJoinsTheNextEpoch(t *testing.T) {
	p := testParams(t)
	c := newFakeChain(t, p, 2, 20)
	ms := newMembers(t, c, 3)
	late := newHomes(t, 1)[0]
	lw := late.worker(t, c)
	ws := append(workers(t, c, ms), lw)
	runBlocks(t, c, ws, 10, epochDone(1, ws[:3]))
	stepBlocks(c, ws, 5) // a few more blocks with nothing to do
	ct1 := encrypt(t, p, c.publicKeyOf(1), 11)

	t.Run("before its admission its worker sends nothing, logs no error and says once why it waits", func(t *testing.T) {
		if n := len(c.sentBy(late.addr())); n != 0 {
			t.Fatalf("sent %d txs", n)
		}
		logs := late.logs.String()
		if l := errorLines(logs); len(l) != 0 {
			t.Fatalf("errors logged: %q", l)
		}
		if n := strings.Count(logs, "not a member of the alliance (yet)"); n != 1 {
			t.Fatalf("the waiting state was logged %d times:\n%s", n, logs)
		}
		if lw.member != 0 || lw.lastEpoch != 1 {
			t.Fatalf("member %d, last epoch %d", lw.member, lw.lastEpoch)
		}
	})

	c.admit(late)
	e := c.openEpoch(2)
	runBlocks(t, c, ws, 12, epochDone(e, ws))

	t.Run("once admitted it takes part in the new epoch only", func(t *testing.T) {
		if late.index != 4 || lw.member != 4 {
			t.Fatalf("index %d, worker's member %d", late.index, lw.member)
		}
		commits, shares := sentEpochs(t, c, late.addr())
		if !slices.Equal(commits, []uint64{e}) || !slices.Equal(shares, []uint64{e}) || lw.thresholds[1] != nil {
			t.Fatalf("commitments %v, shares %v, epoch-1 secret %v", commits, shares, lw.thresholds[1] != nil)
		}
		if !strings.Contains(late.logs.String(), "this hospital is member") {
			t.Fatalf("the admission was not logged:\n%s", late.logs)
		}
	})
	priv, pub, err := p.GenResearcherKey()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("its share answers a request under the new epoch", func(t *testing.T) {
		id := c.requestIn(e, pub, []uint64{2, 4}, encrypt(t, p, c.publicKeyOf(e), 3, 4))
		runBlocks(t, c, ws, 10, requestOver(c, id))
		if got := decryptResult(t, c, priv, id, 2); !slices.Equal(got, []int64{3, 4}) {
			t.Fatalf("decrypted %v", got)
		}
	})
	t.Run("it does not try to answer a request of an epoch it holds no share of", func(t *testing.T) {
		id := c.requestIn(1, pub, []uint64{1, 2}, ct1)
		c.mu.Lock()
		c.requests[id].ActiveSet = []uint64{1, 4} // a set the contract never draws (member 1 cannot answer it either)
		c.mu.Unlock()
		stepBlocks(c, ws, 4)
		if slices.Contains(ksRequests(t, c, late.addr()), id) {
			t.Fatal("the new member sent a share to an epoch-1 request")
		}
		if !strings.Contains(late.logs.String(), "which is not a member of its key epoch; skipped") {
			t.Fatalf("the request was not considered and skipped:\n%s", late.logs)
		}
		if l := errorLines(late.logs.String()); len(l) != 0 {
			t.Fatalf("errors logged: %q", l)
		}
	})
}

func TestARemovedHospitalTakesNoFurtherPart(t *testing.T) {
	p := testParams(t)
	c := newFakeChain(t, p, 2, 20)
	ms := newMembers(t, c, 4)
	ws := workers(t, c, ms)
	runBlocks(t, c, ws, 10, epochDone(1, ws))
	priv, pub, err := p.GenResearcherKey()
	if err != nil {
		t.Fatal(err)
	}
	pk1 := c.publicKeyOf(1)
	answered := c.requestIn(1, pub, []uint64{3, 4}, encrypt(t, p, pk1, 1))
	runBlocks(t, c, ws, 10, requestOver(c, answered))
	if got := decryptResult(t, c, priv, answered, 1); got[0] != 1 {
		t.Fatalf("decrypted %v", got)
	}

	// In one block: a request whose active set names member 4, and the
	// vote that removes it (which opens epoch 2 without it).
	pending := c.requestIn(1, pub, []uint64{1, 4}, encrypt(t, p, pk1, 2))
	c.remove(4)
	e := c.openEpoch(2)
	sentBefore := len(c.sentBy(ms[3].addr()))
	runBlocks(t, c, ws, 12, epochDone(e, ws[:3]))
	runBlocks(t, c, ws, 25, requestOver(c, pending))

	t.Run("it answered requests while it was a member", func(t *testing.T) {
		if !slices.Contains(ksRequests(t, c, ms[3].addr()), answered) {
			t.Fatal("member 4 did not answer before its removal")
		}
	})
	t.Run("it sends nothing after its removal, not even to a request whose active set names it", func(t *testing.T) {
		if n := len(c.sentBy(ms[3].addr())); n != sentBefore {
			t.Fatalf("sent %d txs after its removal", n-sentBefore)
		}
		c.mu.Lock()
		st := c.requests[pending].Status
		c.mu.Unlock()
		if st != pb.DecryptionRequest_STATUS_FAILED {
			t.Fatalf("request %d is %v, want failed at its deadline", pending, st)
		}
		if ws[3].member != 0 || ws[3].thresholds[e] != nil {
			t.Fatalf("member %d, epoch-%d secret %v", ws[3].member, e, ws[3].thresholds[e] != nil)
		}
	})
	t.Run("it logs once that it was removed, and no error", func(t *testing.T) {
		logs := ms[3].logs.String()
		if n := strings.Count(logs, "this hospital was removed from the alliance"); n != 1 {
			t.Fatalf("the removal was logged %d times:\n%s", n, logs)
		}
		if l := errorLines(logs); len(l) != 0 {
			t.Fatalf("errors logged: %q", l)
		}
	})
	t.Run("the remaining members answer requests under the epoch without it", func(t *testing.T) {
		if ep := c.epochState(e); !slices.Equal(ep.Members, []uint64{1, 2, 3}) {
			t.Fatalf("epoch %d members %v", e, ep.Members)
		}
		id := c.requestIn(e, pub, []uint64{1, 3}, encrypt(t, p, c.publicKeyOf(e), 9))
		runBlocks(t, c, ws, 10, requestOver(c, id))
		if got := decryptResult(t, c, priv, id, 1); got[0] != 9 {
			t.Fatalf("decrypted %v", got)
		}
	})
}

func TestEachKeyEpochBacksOffOnItsOwn(t *testing.T) {
	p := testParams(t)
	ctx := context.Background()
	c := newFakeChain(t, p, 2, 20)
	ms := newMembers(t, c, 3)
	ws := workers(t, c, ms)
	runBlocks(t, c, ws, 10, epochDone(1, ws))
	stalled := c.openEpoch(2)
	for _, w := range ws {
		w.Step(ctx)
	}
	c.commit()
	if ep := c.epochState(stalled); len(ep.Committed) != 3 {
		t.Fatalf("committed %v", ep.Committed)
	}
	// Member 1's home loses its epoch-2 ceremony and restarts: epoch 2 can
	// never complete, so a vote opens epoch 3.
	if err := os.Remove(filepath.Join(ms[0].dir, ceremonyName(stalled)+".secret")); err != nil {
		t.Fatal(err)
	}
	ws[0] = ms[0].worker(t, c)
	next := c.openEpoch(2)
	runBlocks(t, c, ws, 12, epochDone(next, ws))

	t.Run("the broken epoch backs off while the next one completes", func(t *testing.T) {
		if ws[0].backoff[ceremonyDutyName(stalled)] == nil || ws[0].backoff[ceremonyDutyName(next)] != nil {
			t.Fatalf("back-off %v", ws[0].backoff)
		}
		if ws[0].thresholds[stalled] != nil || c.epochState(stalled).Ready {
			t.Fatal("the stalled epoch completed")
		}
		if !strings.Contains(ms[0].logs.String(), "its secret is not in this home") {
			t.Fatalf("the loss was not reported:\n%s", ms[0].logs)
		}
	})
	t.Run("no share for the broken epoch was regenerated", func(t *testing.T) {
		commits, shares := sentEpochs(t, c, ms[0].addr())
		if !slices.Equal(commits, []uint64{1, stalled, next}) || !slices.Equal(shares, []uint64{1, next}) {
			t.Fatalf("commitments %v, shares %v", commits, shares)
		}
	})
}

func TestMembershipStates(t *testing.T) {
	p := testParams(t)
	ctx := context.Background()
	tests := []struct {
		name       string
		setup      func(c *fakeChain, m *member)
		wantMember bool
		wantLog    string // logged exactly once over the steps
		wantErr    string // "" for no error
	}{
		{"an operator no hospital on chain has waits quietly for its admission", func(c *fakeChain, m *member) {},
			false, "this hospital is not a member of the alliance (yet)", ""},
		{"a member's operator is a member", func(c *fakeChain, m *member) { c.admit(m) },
			true, "this hospital is member", ""},
		{"the operator of a removed hospital is no longer a member, quietly", func(c *fakeChain, m *member) { c.admit(m); c.remove(m.index) },
			false, "this hospital was removed from the alliance", ""},
		{"a seal key on chain that is not this home's is an error", func(c *fakeChain, m *member) {
			c.admit(m)
			c.hospitals[m.index-1].SealPubkey = c.hospitals[0].SealPubkey
		}, false, "", "is not this home's seal key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newFakeChain(t, p, 2, 20)
			newMembers(t, c, 2)
			m := newHomes(t, 1)[0]
			tt.setup(c, m)
			w := m.worker(t, c)
			for range 4 {
				w.Step(ctx)
				c.commit()
			}
			logs := m.logs.String()
			if got := w.member != 0; got != tt.wantMember || (tt.wantMember && w.member != m.index) {
				t.Fatalf("member %d, want a member: %v", w.member, tt.wantMember)
			}
			if tt.wantLog != "" && strings.Count(logs, tt.wantLog) != 1 {
				t.Fatalf("%q logged %d times:\n%s", tt.wantLog, strings.Count(logs, tt.wantLog), logs)
			}
			errs := errorLines(logs)
			if tt.wantErr == "" && len(errs) != 0 {
				t.Fatalf("errors logged: %q", errs)
			}
			if tt.wantErr != "" && (len(errs) == 0 || !strings.Contains(errs[0], tt.wantErr)) {
				t.Fatalf("want an error with %q, got %q", tt.wantErr, errs)
			}
			if !tt.wantMember && len(c.sentBy(m.addr())) != 0 {
				t.Fatal("a worker that is not a member sent a tx")
			}
		})
	}
}
