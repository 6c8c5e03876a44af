package localnet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/hekeys"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/genesis"
	"github.com/medchain/medchain/he"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/hework"
	"github.com/medchain/medchain/node/keyring"
)

// heNet is a running localnet seen from the test: clients, keys and the
// HE parameters of its genesis.
type heNet struct {
	t          *testing.T
	c          *Cluster
	p          *he.Params
	cl         []*client.Client
	ops        []ed25519.PrivateKey
	researcher ed25519.PrivateKey
	pk         []byte
	want       map[uint64][]int64 // request id → the sum it must decrypt to
	vec        int                // vectors encrypted so far, to make each one new
}

// send submits a signed tx through node via, retrying while the signer's
// nonce races with its node's HE worker (which signs with the same key).
func (n *heNet) send(ctx context.Context, via int, priv ed25519.PrivateKey, typ string, payload proto.Message) *client.Result {
	n.t.Helper()
	var last error
	for attempt := 0; attempt < 10; attempt++ {
		r, err := n.cl[via].Send(ctx, priv, typ, payload, 60*time.Second)
		var ce *client.CodeError
		switch {
		case err == nil && r.Code == 0:
			return r
		case errors.As(err, &ce) && (ce.Code == 6 || ce.Code == 7):
			last = err
		case err == nil && (r.Code == 6 || r.Code == 7):
			last = fmt.Errorf("code %d: %s", r.Code, r.Log)
		case err != nil:
			n.t.Fatalf("%s via node %d: %v", typ, via, err)
		default:
			n.t.Fatalf("%s via node %d refused in block %d: code %d: %s", typ, via, r.Height, r.Code, r.Log)
		}
		time.Sleep(300 * time.Millisecond)
	}
	n.t.Fatalf("%s via node %d: nonce kept racing: %v", typ, via, last)
	return nil
}

func (n *heNet) query(ctx context.Context, via int, path string) []byte {
	n.t.Helper()
	q, err := n.cl[via].Query(ctx, path, 0, false)
	if err != nil {
		n.t.Fatalf("query %s on node %d: %v", path, via, err)
	}
	return q.Value
}

func (n *heNet) epoch(ctx context.Context, via int) *pb.KeyEpoch {
	n.t.Helper()
	raw := n.query(ctx, via, "/he/epoch/1")
	if raw == nil {
		n.t.Fatal("key epoch 1 is not open on chain")
	}
	var ep pb.KeyEpoch
	if err := tx.Unmarshal(raw, &ep); err != nil {
		n.t.Fatal(err)
	}
	return &ep
}

func (n *heNet) request(ctx context.Context, via int, id uint64) *pb.DecryptionRequest {
	n.t.Helper()
	var r pb.DecryptionRequest
	if err := tx.Unmarshal(n.query(ctx, via, fmt.Sprintf("/he/request/%d", id)), &r); err != nil {
		n.t.Fatalf("request %d: %v", id, err)
	}
	return &r
}

// submit encrypts a fresh vector (negative values included) for each of
// the given members under the collective key and posts it through node
// via; it returns the ciphertext hashes and their exact sum.
func (n *heNet) submit(ctx context.Context, via int, members []int) (hashes [][]byte, sum []int64) {
	n.t.Helper()
	sum = make([]int64, 6)
	for _, m := range members {
		n.vec++
		k := int64(n.vec)
		v := []int64{k, -3 * k, 1000 * k, -(1 << 40) + k, 0, 7 - k*k}
		ct, err := n.p.EncodeEncrypt(n.pk, v)
		if err != nil {
			n.t.Fatal(err)
		}
		n.send(ctx, via, n.ops[m], hekeys.TypeSubmit, &pb.SubmitCiphertext{Epoch: 1, Ciphertext: ct, Label: fmt.Sprintf("vector %d of hospital %d", n.vec, m)})
		h := tx.Hash(ct) // SHA-256, the blob's address
		hashes = append(hashes, h)
		for i := range sum {
			sum[i] += v[i]
		}
	}
	return hashes, sum
}

// ask sends a researcher's decryption request through node via and
// returns its id, the researcher's private key and the active set.
func (n *heNet) ask(ctx context.Context, via int, hashes [][]byte) (id uint64, priv []byte, active []uint64) {
	n.t.Helper()
	priv, pub, err := n.p.GenResearcherKey()
	if err != nil {
		n.t.Fatal(err)
	}
	r := n.send(ctx, via, n.researcher, hekeys.TypeRequest, &pb.RequestDecryption{CiphertextHashes: hashes, ResearcherKey: pub})
	for _, e := range r.Events {
		if e.Type == hekeys.EventRequestCreated {
			if id, err = strconv.ParseUint(e.Attrs["id"], 10, 64); err != nil {
				n.t.Fatal(err)
			}
		}
	}
	if id == 0 {
		n.t.Fatalf("no %s event in %+v", hekeys.EventRequestCreated, r.Events)
	}
	return id, priv, n.request(ctx, via, id).ActiveSet
}

// askPublic sends a public decryption request over hashes and returns its id.
func (n *heNet) askPublic(ctx context.Context, via int, hashes [][]byte) uint64 {
	n.t.Helper()
	r := n.send(ctx, via, n.researcher, hekeys.TypeRequest, &pb.RequestDecryption{CiphertextHashes: hashes, Public: true})
	for _, e := range r.Events {
		if e.Type == hekeys.EventRequestCreated {
			id, err := strconv.ParseUint(e.Attrs["id"], 10, 64)
			if err != nil {
				n.t.Fatal(err)
			}
			return id
		}
	}
	n.t.Fatalf("no %s event in %+v", hekeys.EventRequestCreated, r.Events)
	return 0
}

// trimZeros drops v's trailing zeros, as the chain stores a public sum.
func trimZeros(v []int64) []int64 {
	for len(v) > 0 && v[len(v)-1] == 0 {
		v = v[:len(v)-1]
	}
	return v
}

// waitRequest waits until request id is no longer pending.
func (n *heNet) waitRequest(ctx context.Context, via int, id uint64) *pb.DecryptionRequest {
	n.t.Helper()
	for {
		r := n.request(ctx, via, id)
		if r.Status != pb.DecryptionRequest_STATUS_PENDING {
			return r
		}
		select {
		case <-ctx.Done():
			n.t.Fatalf("request %d still pending (posted %v of %v, deadline %d): %v", id, r.Posted, r.ActiveSet, r.DeadlineHeight, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// decrypt checks that request id is done and that the researcher's
// decryption is exactly want.
func (n *heNet) decrypt(ctx context.Context, via int, id uint64, priv []byte, want []int64) {
	n.t.Helper()
	r := n.waitRequest(ctx, via, id)
	if r.Status != pb.DecryptionRequest_STATUS_DONE {
		n.t.Fatalf("request %d %s: %s", id, r.Status, r.Reason)
	}
	got, err := n.p.Decrypt(priv, n.query(ctx, via, "/blob/"+hex.EncodeToString(r.ResultHash)))
	if err != nil {
		n.t.Fatal(err)
	}
	if !slices.Equal(got[:len(want)], want) || slices.ContainsFunc(got[len(want):], func(v int64) bool { return v != 0 }) {
		n.t.Fatalf("request %d decrypts to %v…, want %v", id, got[:len(want)], want)
	}
}

// waitBlocks waits until node i has committed k more blocks.
func (n *heNet) waitBlocks(ctx context.Context, i int, k int64) {
	n.t.Helper()
	h := minHeight(n.t, ctx, n.c, []int{i})
	if _, err := n.c.WaitHeight(ctx, i, h+k); err != nil {
		n.t.Fatal(err)
	}
}

// predictActive is the contract's choice of active set for request id
// when every member is live: t members from a rotation by id.
func predictActive(id uint64, live []uint64, t int) []uint64 {
	start := int(id % uint64(len(live)))
	a := append(slices.Clone(live[start:]), live[:start]...)[:t]
	slices.Sort(a)
	return a
}

// TestHEWorkersRunTheCeremonyAndDecryptionRequests is issue 4's
// end-to-end acceptance on a real 4-validator localnet (t = 3): the
// members' workers complete the key ceremony; each member's vector is
// encrypted under the collective key and a researcher's request decrypts
// to the exact sum; with one validator killed before a request, the
// request still completes; with a member of a request's active set gone
// after the request fixed it, the request fails at its deadline with a
// reason, and a request over new ciphertexts succeeds.
func TestHEWorkersRunTheCeremonyAndDecryptionRequests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	begin := time.Now()
	c := startLocalnetWith(t, ctx, Options{Validators: 4, Researcher: true})
	conf, err := node.LoadConfig(c.Manifest.Nodes[0].Home, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, st, err := genesis.Load(conf.Comet.GenesisFile())
	if err != nil {
		t.Fatal(err)
	}
	if st.HE == nil || st.HE.Threshold != 3 {
		t.Fatalf("localnet genesis HE section: %+v", st.HE)
	}
	n := &heNet{t: t, c: c, want: map[uint64][]int64{}}
	if n.p, err = he.NewParams(st.HE.Params); err != nil {
		t.Fatal(err)
	}
	for i := range c.Manifest.Nodes {
		n.ops = append(n.ops, operatorKey(t, c, i))
		cl, err := c.Client(i)
		if err != nil {
			t.Fatal(err)
		}
		n.cl = append(n.cl, cl)
	}
	kr, err := keyring.Open(node.KeyringDir(c.Manifest.Nodes[0].Home), keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n.researcher, err = kr.Signer(ResearcherKeyName); err != nil {
		t.Fatal(err)
	}
	// 1. The ceremony completes on its own (startLocalnetWith waited for
	// it on every node).
	start := time.Now()
	var ep *pb.KeyEpoch
	for {
		ep = n.epoch(ctx, 0)
		if ep.Ready {
			break
		}
		if time.Since(start) > 90*time.Second {
			t.Fatalf("key epoch 1 not ready after 90 s: posted %v of %v", ep.Posted, ep.Members)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("ceremony: key epoch 1 ready at height %d; localnet start and ceremony took %s", ep.ReadyHeight, time.Since(begin).Round(100*time.Millisecond))
	if !slices.Equal(ep.Members, []uint64{1, 2, 3, 4}) || ep.Threshold != 3 {
		t.Fatalf("epoch: members %v threshold %d", ep.Members, ep.Threshold)
	}
	// Every member committed before revealing, to the share it revealed.
	if !slices.Equal(ep.Committed, ep.Members) || !slices.Equal(ep.Posted, ep.Members) {
		t.Fatalf("epoch: committed %v, posted %v, members %v", ep.Committed, ep.Posted, ep.Members)
	}
	for _, m := range ep.Members {
		commitment := n.query(ctx, 0, fmt.Sprintf("/he/commit/1/%d", m))
		var rec pb.KeyShareRecord
		if err := tx.Unmarshal(n.query(ctx, 0, fmt.Sprintf("/he/keyshare/1/%d", m)), &rec); err != nil {
			t.Fatal(err)
		}
		share := n.query(ctx, 0, "/blob/"+hex.EncodeToString(rec.PublicKeyShareHash))
		if want := hekeys.Commitment(c.Manifest.ChainID, 1, m, share); !bytes.Equal(commitment, want) {
			t.Fatalf("member %d: commitment %x, the posted share opens to %x", m, commitment, want)
		}
	}
	n.pk = n.query(ctx, 0, "/blob/"+hex.EncodeToString(ep.PublicKeyHash))
	if !slices.Equal(tx.Hash(n.pk), ep.PublicKeyHash) || n.p.ValidatePublicKey(n.pk) != nil {
		t.Fatal("the collective public key from the chain does not match its hash or does not validate")
	}
	// Every worker combines its threshold secret right after.
	for i := range c.Manifest.Nodes {
		for !strings.Contains(readLog(t, c, i), "combined this member's threshold secret") {
			if ctx.Err() != nil {
				t.Fatalf("node %d's worker did not combine its threshold secret", i)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// 2. One vector per member, a researcher's request, the exact sum.
	start = time.Now()
	hashes, sum := n.submit(ctx, 0, []int{0, 1, 2, 3})
	id, priv, active := n.ask(ctx, 0, hashes)
	n.decrypt(ctx, 0, id, priv, sum)
	t.Logf("request %d (active set %v): decrypted the exact sum in %s", id, active, time.Since(start).Round(100*time.Millisecond))

	// 2b. The public variant: the same kind of sum, decrypted for every
	// member to see (a noised cohort size, in the query layer).
	start = time.Now()
	hashes, sum = n.submit(ctx, 0, []int{0, 1, 2, 3})
	pubReq := n.askPublic(ctx, 0, hashes)
	if r := n.waitRequest(ctx, 0, pubReq); r.Status != pb.DecryptionRequest_STATUS_DONE || !slices.Equal(r.ResultValues, trimZeros(sum)) {
		t.Fatalf("public request %d: %s %q, values %v, want %v", pubReq, r.Status, r.Reason, r.ResultValues, sum)
	} else {
		t.Logf("public request %d (active set %v): the chain holds the exact sum %v, %s", pubReq, r.ActiveSet, r.ResultValues, time.Since(start).Round(100*time.Millisecond))
	}

	// 3. A validator the decryption does not need is killed before the
	// request: the live members take the request and it completes.
	down := 3
	if err := c.Kill(down); err != nil {
		t.Fatal(err)
	}
	n.waitBlocks(ctx, 0, 3) // its signature leaves the last commit
	start = time.Now()
	hashes, sum = n.submit(ctx, 0, []int{0, 1, 2, 3})
	id, priv, active = n.ask(ctx, 0, hashes)
	if slices.Contains(active, uint64(down+1)) {
		t.Fatalf("request %d's active set %v names the killed member %d", id, active, down+1)
	}
	n.decrypt(ctx, 0, id, priv, sum)
	t.Logf("request %d with node %d killed (active set %v): exact sum in %s", id, down, active, time.Since(start).Round(100*time.Millisecond))

	// The killed node comes back; its worker resumes from its keyring and
	// posts nothing again.
	if err := c.Start(down); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitHeight(ctx, down, minHeight(t, ctx, c, []int{0, 1, 2})+1); err != nil {
		t.Fatal(err)
	}
	n.waitBlocks(ctx, 0, 3)
	if log := readLog(t, c, down); !strings.Contains(log, "threshold secret loaded") || strings.Count(log, generatedKeyShare) != 1 {
		t.Fatalf("node %d's worker after restart: threshold secret loaded = %v, key shares generated = %d",
			down, strings.Contains(log, "threshold secret loaded"), strings.Count(log, generatedKeyShare))
	}

	// 4. A member of the active set is gone after the request fixed it:
	// the request fails at its deadline, for good, with a reason. The
	// victim runs with the fault hook that holds its shares back, so it is
	// a live validator the chain puts in active sets, yet certain to have
	// posted nothing when it is killed (no race with its own worker).
	predicted := predictActive(id+1, ep.Members, int(ep.Threshold))
	victim := -1
	for _, m := range predicted {
		if m != 1 { // keep node 0, the test's gateway
			victim = int(m) - 1
			break
		}
	}
	if err := c.Stop(victim); err != nil {
		t.Fatal(err)
	}
	if err := c.StartEnv(victim, hework.FaultHoldSharesEnv+"=1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitHeight(ctx, victim, minHeight(t, ctx, c, []int{0})+1); err != nil {
		t.Fatal(err)
	}
	n.waitBlocks(ctx, 0, 3) // its signature is back in the last commit
	var failed *pb.DecryptionRequest
	for attempt := 0; failed == nil; attempt++ {
		if attempt == 4 {
			t.Fatalf("node %d was in none of 4 active sets", victim)
		}
		hashes, sum = n.submit(ctx, 0, []int{0, 1, 2, 3})
		start = time.Now()
		id, priv, active = n.ask(ctx, 0, hashes)
		if !slices.Contains(active, uint64(victim+1)) {
			// It missed the last commit: the request completes without it.
			n.decrypt(ctx, 0, id, priv, sum)
			t.Logf("request %d chose %v without node %d; again", id, active, victim)
			continue
		}
		if err := c.Kill(victim); err != nil {
			t.Fatal(err)
		}
		r := n.waitRequest(ctx, 0, id)
		if r.Status != pb.DecryptionRequest_STATUS_FAILED || r.Reason == "" || !strings.Contains(r.Reason, strconv.Itoa(victim+1)) {
			t.Fatalf("request %d with member %d killed: %s %q (posted %v of %v)", id, victim+1, r.Status, r.Reason, r.Posted, r.ActiveSet)
		}
		failed = r
	}
	t.Logf("request %d (active set %v, member %d killed): %s at deadline %d, %s later: %q",
		id, failed.ActiveSet, victim+1, failed.Status, failed.DeadlineHeight, time.Since(start).Round(100*time.Millisecond), failed.Reason)
	// The failed sum is never released: the same ciphertexts are refused.
	_, pub, _ := n.p.GenResearcherKey()
	again, err := n.cl[0].Send(ctx, n.researcher, hekeys.TypeRequest, &pb.RequestDecryption{CiphertextHashes: hashes, ResearcherKey: pub}, 60*time.Second)
	if err != nil || again.Code == 0 {
		t.Fatalf("a second request over the failed request's ciphertexts: %v %+v", err, again)
	}
	t.Logf("a second request over the same ciphertexts is refused: code %d: %s", again.Code, again.Log)

	// 5. A new request over new ciphertexts succeeds with the members left.
	start = time.Now()
	var from []int
	for i := range c.Manifest.Nodes {
		if i != victim {
			from = append(from, i)
		}
	}
	hashes, sum = n.submit(ctx, 0, from)
	id, priv, active = n.ask(ctx, 0, hashes)
	n.decrypt(ctx, 0, id, priv, sum)
	t.Logf("request %d after the failure (active set %v): exact sum in %s", id, active, time.Since(start).Round(100*time.Millisecond))

	// No worker ever generated a second key share.
	for i := range c.Manifest.Nodes {
		log := readLog(t, c, i)
		if k := strings.Count(log, generatedKeyShare); k != 1 {
			t.Errorf("node %d's worker generated %d key shares", i, k)
		}
		if strings.Contains(log, "HE worker bug") {
			t.Errorf("node %d's worker panicked", i)
		}
	}
	t.Logf("total %s", time.Since(begin).Round(100*time.Millisecond))
}

// generatedKeyShare is what a worker logs when it generates its key share.
const generatedKeyShare = "generated this member's key share"

func readLog(t *testing.T, c *Cluster, i int) string {
	t.Helper()
	raw, err := os.ReadFile(c.LogPath(i))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}
