package hekeys_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/nacl/box"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/hekeys"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/he"
)

func hashOf(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

func randomBytes(tb testing.TB, n int) []byte {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestKeyCeremony(t *testing.T) {
	c := newChain(t)
	a := c.a

	t.Run("a share before any commitment is refused", func(t *testing.T) {
		if _, err := c.exec(c.op(1), hekeys.TypeKeyShare, a.post(1)); !errors.Is(err, contracts.ErrWrongState) {
			t.Fatalf("err = %v, want ErrWrongState", err)
		}
	})
	for _, i := range []uint64{3, 1, 4, 2} {
		t.Run(fmt.Sprintf("member %d's commitment is recorded", i), func(t *testing.T) {
			before := c.epoch(t).Committed
			ev := c.must(t, c.op(i), hekeys.TypeKeyCommit, a.commit(i))
			if attrOf(ev, hekeys.EventKeyCommitted, "dealer") != fmt.Sprint(i) || attrOf(ev, hekeys.EventKeyCommitted, "epoch") != "1" {
				t.Errorf("events %v, want key_committed for epoch 1, dealer %d", ev, i)
			}
			ep := c.epoch(t)
			want := slices.Sorted(slices.Values(append(slices.Clone(before), i)))
			if !slices.Equal(ep.Committed, want) || len(ep.Posted) != 0 || ep.Ready {
				t.Errorf("epoch = %v, want committed %v, nothing posted", ep, want)
			}
			got, err := hekeys.GetCommitment(c.store, 1, i)
			if err != nil || !bytes.Equal(got, hekeys.Commitment(testChainID, 1, i, a.members[i-1].post.PublicKeyShare)) {
				t.Errorf("stored commitment = %x, %v; want SHA-256 of the share", got, err)
			}
			if len(ep.Committed) < 4 {
				if _, err := c.exec(c.op(i), hekeys.TypeKeyShare, a.post(i)); !errors.Is(err, contracts.ErrWrongState) {
					t.Errorf("a share with %d of 4 committed: err = %v, want ErrWrongState", len(ep.Committed), err)
				}
			}
		})
	}

	for i := uint64(1); i <= 3; i++ {
		t.Run(fmt.Sprintf("member %d's share is stored and the epoch is not ready yet", i), func(t *testing.T) {
			ev := c.must(t, c.op(i), hekeys.TypeKeyShare, a.post(i))
			if got := attrOf(ev, hekeys.EventKeySharePosted, "dealer"); got != fmt.Sprint(i) {
				t.Errorf("key_share_posted dealer = %q, want %d", got, i)
			}
			if attrOf(ev, hekeys.EventKeyReady, "epoch") != "" {
				t.Error("key_ready emitted before every member posted")
			}
			ep := c.epoch(t)
			if ep.Ready || ep.PublicKeyHash != nil || ep.ReadyHeight != 0 {
				t.Errorf("epoch = %v, want not ready", ep)
			}
			if want := []uint64{1, 2, 3}[:i]; !slices.Equal(ep.Posted, want) {
				t.Errorf("posted = %v, want %v", ep.Posted, want)
			}
			var rec pb.KeyShareRecord
			bz, err := c.store.Get(hekeys.KeyShareKey(1, i))
			if err != nil || tx.Unmarshal(bz, &rec) != nil {
				t.Fatalf("key share record of %d: %v", i, err)
			}
			post := a.post(i)
			if rec.Dealer != i || rec.Height != c.block.Height || !bytes.Equal(rec.PublicKeyShareHash, hashOf(post.PublicKeyShare)) {
				t.Errorf("record = dealer %d height %d, want %d %d and the share's hash", rec.Dealer, rec.Height, i, c.block.Height)
			}
			if len(rec.Shares) != 3 {
				t.Fatalf("record holds %d sealed shares, want 3", len(rec.Shares))
			}
			for j, ref := range rec.Shares {
				if ref.Recipient != post.Shares[j].Recipient || !bytes.Equal(c.blob(t, ref.Hash), post.Shares[j].Sealed) {
					t.Errorf("sealed share %d is not stored as posted", j)
				}
			}
		})
	}

	t.Run("member 4's share completes the epoch and the collective key is stored", func(t *testing.T) {
		ev := c.must(t, c.op(4), hekeys.TypeKeyShare, a.post(4))
		ep := c.epoch(t)
		if !ep.Ready || ep.ReadyHeight != c.block.Height || !slices.Equal(ep.Posted, []uint64{1, 2, 3, 4}) {
			t.Fatalf("epoch = %v, want ready at %d with every member posted", ep, c.block.Height)
		}
		if !bytes.Equal(ep.PublicKeyHash, hashOf(a.collectiveKey)) {
			t.Fatal("the stored key is not the aggregate of the four shares")
		}
		pk := c.blob(t, ep.PublicKeyHash)
		if err := a.p.ValidatePublicKey(pk); err != nil {
			t.Fatalf("stored key: %v", err)
		}
		if got := attrOf(ev, hekeys.EventKeyReady, "epoch"); got != "1" {
			t.Errorf("key_ready epoch = %q, want 1", got)
		}
	})

	t.Run("the key does not depend on the order members post in", func(t *testing.T) {
		other := newChain(t)
		other.commitAll(t)
		for _, i := range []uint64{4, 2, 1, 3} {
			other.must(t, other.op(i), hekeys.TypeKeyShare, a.post(i))
		}
		if got, want := other.epoch(t).PublicKeyHash, c.epoch(t).PublicKeyHash; !bytes.Equal(got, want) {
			t.Fatalf("key hash %x in order 4,2,1,3, %x in order 1,2,3,4", got, want)
		}
	})

	t.Run("the stored key encrypts vectors that t members decrypt for the researcher", func(t *testing.T) {
		pk := c.blob(t, c.epoch(t).PublicKeyHash)
		// Every member unseals, from state, the shares the others sealed to it.
		ts := map[uint64]*he.ThresholdSecret{}
		for _, m := range a.members {
			var err error
			ts[m.index], err = a.combine(m, func(dealer uint64) ([]byte, error) {
				var rec pb.KeyShareRecord
				bz, err := c.store.Get(hekeys.KeyShareKey(1, dealer))
				if err != nil {
					return nil, err
				}
				if err := tx.Unmarshal(bz, &rec); err != nil {
					return nil, err
				}
				for _, ref := range rec.Shares {
					if ref.Recipient == m.index {
						return hekeys.GetBlob(c.store, ref.Hash)
					}
				}
				return nil, fmt.Errorf("member %d sealed nothing to %d", dealer, m.index)
			})
			if err != nil {
				t.Fatalf("member %d: %v", m.index, err)
			}
		}
		big := a.p.MaxAbs() / 4
		vectors := [][]int64{{5, -7, big, 0, 1}, {10, 20, -big, 3}, {-1, -1, big, -3, 41}}
		var hashes [][]byte
		for i, v := range vectors {
			ct, err := a.p.EncodeEncrypt(pk, v)
			if err != nil {
				t.Fatal(err)
			}
			hashes = append(hashes, c.submit(t, uint64(i+1), ct))
		}
		req := c.ask(t, hashes...)
		if len(req.ActiveSet) != 3 {
			t.Fatalf("active set %v, want 3 members", req.ActiveSet)
		}
		agg := c.blob(t, req.AggregateHash)
		for _, m := range req.ActiveSet {
			s, err := a.p.GenKeySwitchShare(ts[m], req.ActiveSet, agg, a.researcherPub)
			if err != nil {
				t.Fatal(err)
			}
			c.must(t, c.op(m), hekeys.TypeKSShare, &pb.PostKeySwitchShare{Request: req.Id, Share: s})
		}
		done := c.request(t, req.Id)
		if done.Status != pb.DecryptionRequest_STATUS_DONE {
			t.Fatalf("request is %s after t shares", done.Status)
		}
		checkDecrypts(t, a, c.blob(t, done.ResultHash), sum(vectors...))
	})
}

func TestKeyShareRefusals(t *testing.T) {
	a := testAlliance(t)
	post := func(i uint64, edit func(*pb.PostKeyShare)) func(*chain) proto.Message {
		return func(*chain) proto.Message {
			p := a.post(i)
			if edit != nil {
				edit(p)
			}
			return p
		}
	}
	pkSize := a.p.PublicKeyShareSize()
	// rogue is a well-formed public-key share that member 1 did not commit
	// to: the share a last poster would pick after seeing the others'.
	sk, err := a.p.GenSecretShare()
	if err != nil {
		t.Fatal(err)
	}
	rogue, err := a.p.GenPublicKeyShare(sk, he.CRPSeed(testChainID, 1))
	if err != nil {
		t.Fatal(err)
	}
	commitOnly := func(members ...uint64) func(*testing.T, *chain, proto.Message) {
		return func(t *testing.T, c *chain, _ proto.Message) {
			for _, i := range members {
				c.must(t, c.op(i), hekeys.TypeKeyCommit, a.commit(i))
			}
		}
	}
	// commitToPayload: member 1 commits to the payload's public-key share,
	// the others to their own, so the case reaches the checks after the
	// commitment's.
	commitToPayload := func(t *testing.T, c *chain, m proto.Message) {
		c.must(t, c.op(1), hekeys.TypeKeyCommit, &pb.CommitKeyShare{Epoch: 1, Commitment: hekeys.Commitment(testChainID, 1, 1, m.(*pb.PostKeyShare).PublicKeyShare)})
		commitOnly(2, 3, 4)(t, c, m)
	}
	cases := []struct {
		name string
		// ready runs the case after the ceremony; else after genesis.
		ready bool
		// commits runs after genesis, before setup; by default every
		// member commits to its own share.
		commits func(t *testing.T, c *chain, payload proto.Message)
		setup   func(t *testing.T, c *chain)
		// signer defaults to member 1's operator.
		signer string
		// contractOnly skips the app's role check.
		contractOnly bool
		payload      func(*chain) proto.Message
		want         error
	}{
		{name: "a share before any member committed is refused",
			commits: commitOnly(), payload: post(1, nil), want: contracts.ErrWrongState},
		{name: "a share before every member committed is refused, even by a member that did",
			commits: commitOnly(1, 2, 3), payload: post(1, nil), want: contracts.ErrWrongState},
		{name: "a rogue share chosen after the others were revealed is refused: it is not the one committed to",
			setup: func(t *testing.T, c *chain) {
				for i := uint64(2); i <= 4; i++ {
					c.must(t, c.op(i), hekeys.TypeKeyShare, a.post(i))
				}
			},
			payload: post(1, func(p *pb.PostKeyShare) { p.PublicKeyShare = bytes.Clone(rogue) }), want: contracts.ErrInvalidPayload},
		{name: "a share one byte off its commitment is refused",
			payload: post(1, func(p *pb.PostKeyShare) { p.PublicKeyShare[len(p.PublicKeyShare)-1] ^= 1 }), want: contracts.ErrInvalidPayload},
		{name: "a member's second share is refused, even the same bytes resent",
			setup:   func(t *testing.T, c *chain) { c.must(t, c.op(1), hekeys.TypeKeyShare, a.post(1)) },
			payload: post(1, nil), want: contracts.ErrExists},
		{name: "a member's second, different share is refused",
			setup:   func(t *testing.T, c *chain) { c.must(t, c.op(1), hekeys.TypeKeyShare, a.post(1)) },
			payload: post(1, func(p *pb.PostKeyShare) { p.Shares[0].Sealed = bytes.Clone(a.members[1].post.Shares[0].Sealed) }),
			want:    contracts.ErrExists},
		{name: "a share for an epoch that was never opened is refused",
			payload: post(1, func(p *pb.PostKeyShare) { p.Epoch = 2 }), want: contracts.ErrWrongState},
		{name: "a share for epoch 0 does not pass validation",
			payload: post(1, func(p *pb.PostKeyShare) { p.Epoch = 0 }), want: contracts.ErrInvalidPayload},
		{name: "a share after the epoch is ready is refused",
			ready: true, payload: post(1, nil), want: contracts.ErrWrongState},
		{name: "a doctor may not post a share (role check)",
			signer: a.doctor, payload: post(1, nil), want: contracts.ErrUnauthorized},
		{name: "a researcher may not post a share (role check)",
			signer: a.researcher, payload: post(1, nil), want: contracts.ErrUnauthorized},
		{name: "a doctor is refused by the contract too, were the role check skipped",
			signer: a.doctor, contractOnly: true, payload: post(1, nil), want: contracts.ErrUnauthorized},
		{name: "an operator account its hospital's record does not name is refused by the contract",
			signer: a.impostor, payload: post(2, nil), want: contracts.ErrUnauthorized},
		{name: "two sealed shares instead of three are refused",
			payload: post(1, func(p *pb.PostKeyShare) { p.Shares = p.Shares[:2] }), want: contracts.ErrInvalidPayload},
		{name: "no sealed shares are refused",
			payload: post(1, func(p *pb.PostKeyShare) { p.Shares = nil }), want: contracts.ErrInvalidPayload},
		{name: "a fourth sealed share, to the dealer itself, is refused",
			payload: post(1, func(p *pb.PostKeyShare) {
				p.Shares = append([]*pb.SealedShare{{Recipient: 1, Sealed: p.Shares[0].Sealed}}, p.Shares...)
			}), want: contracts.ErrInvalidPayload},
		{name: "sealed shares out of recipient order are refused",
			payload: post(1, func(p *pb.PostKeyShare) { p.Shares[0], p.Shares[1] = p.Shares[1], p.Shares[0] }),
			want:    contracts.ErrInvalidPayload},
		{name: "a sealed share to a member outside the epoch is refused",
			payload: post(1, func(p *pb.PostKeyShare) { p.Shares[2].Recipient = 5 }), want: contracts.ErrInvalidPayload},
		{name: "another member's whole payload is refused: its recipients are not the others",
			commits: commitToPayload, signer: a.members[0].operator, payload: post(4, nil), want: contracts.ErrInvalidPayload},
		{name: "a sealed share one byte short is refused",
			payload: post(1, func(p *pb.PostKeyShare) { p.Shares[1].Sealed = p.Shares[1].Sealed[1:] }),
			want:    contracts.ErrInvalidPayload},
		{name: "a sealed share one byte long is refused",
			payload: post(1, func(p *pb.PostKeyShare) { p.Shares[1].Sealed = append(p.Shares[1].Sealed, 0) }),
			want:    contracts.ErrInvalidPayload},
		{name: "an unsealed threshold share is refused by its size",
			payload: post(1, func(p *pb.PostKeyShare) { p.Shares[0].Sealed = bytes.Clone(a.members[0].dealt[2]) }),
			want:    contracts.ErrInvalidPayload},
		{name: "a truncated public-key share is refused", commits: commitToPayload,
			payload: post(1, func(p *pb.PostKeyShare) { p.PublicKeyShare = p.PublicKeyShare[:pkSize-8] }),
			want:    contracts.ErrInvalidPayload},
		{name: "random bytes of a public-key share's length are refused", commits: commitToPayload,
			payload: post(1, func(p *pb.PostKeyShare) { p.PublicKeyShare = randomBytes(t, pkSize) }),
			want:    contracts.ErrInvalidPayload},
		{name: "a public-key share with its tag but random coefficients is refused", commits: commitToPayload,
			payload: post(1, func(p *pb.PostKeyShare) {
				copy(p.PublicKeyShare[len(p.PublicKeyShare)-4096:], randomBytes(t, 4096))
			}), want: contracts.ErrInvalidPayload},
		{name: "an empty public-key share is refused", commits: commitToPayload,
			payload: post(1, func(p *pb.PostKeyShare) { p.PublicKeyShare = nil }), want: contracts.ErrInvalidPayload},
		{name: "another member's public-key share, replayed, is refused: it is not the one committed to",
			setup:  func(t *testing.T, c *chain) { c.must(t, c.op(1), hekeys.TypeKeyShare, a.post(1)) },
			signer: a.members[1].operator,
			payload: post(2, func(p *pb.PostKeyShare) {
				p.PublicKeyShare = bytes.Clone(a.members[0].post.PublicKeyShare)
			}), want: contracts.ErrInvalidPayload},
		{name: "another member's public-key share, under a copied commitment, does not open it (the commitment binds the dealer)",
			commits: func(t *testing.T, c *chain, _ proto.Message) {
				commitOnly(1, 3, 4)(t, c, nil)
				c.must(t, c.op(2), hekeys.TypeKeyCommit, a.commit(1))
			},
			setup:  func(t *testing.T, c *chain) { c.must(t, c.op(1), hekeys.TypeKeyShare, a.post(1)) },
			signer: a.members[1].operator,
			payload: post(2, func(p *pb.PostKeyShare) {
				p.PublicKeyShare = bytes.Clone(a.members[0].post.PublicKeyShare)
			}), want: contracts.ErrInvalidPayload},
		{name: "another member's public-key share, replayed under the replayer's own commitment to it, is refused",
			commits: func(t *testing.T, c *chain, _ proto.Message) {
				commitOnly(1, 3, 4)(t, c, nil)
				c.must(t, c.op(2), hekeys.TypeKeyCommit, &pb.CommitKeyShare{Epoch: 1, Commitment: hekeys.Commitment(testChainID, 1, 2, a.members[0].post.PublicKeyShare)})
			},
			setup:  func(t *testing.T, c *chain) { c.must(t, c.op(1), hekeys.TypeKeyShare, a.post(1)) },
			signer: a.members[1].operator,
			payload: post(2, func(p *pb.PostKeyShare) {
				p.PublicKeyShare = bytes.Clone(a.members[0].post.PublicKeyShare)
			}), want: contracts.ErrExists},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c *chain
			msg := tc.payload(nil)
			if tc.ready {
				c = readyChain(t)
			} else {
				c = newChain(t)
				switch {
				case tc.commits != nil:
					tc.commits(t, c, msg)
				default:
					c.commitAll(t)
				}
			}
			if tc.setup != nil {
				tc.setup(t, c)
			}
			signer := tc.signer
			if signer == "" {
				signer = c.op(1)
			}
			before := proto.Clone(c.epoch(t))
			payload, err := proto.Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.execRaw(signer, hekeys.TypeKeyShare, payload, !tc.contractOnly)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if after := c.epoch(t); !proto.Equal(before, after) {
				t.Errorf("a refused share changed the epoch: %v → %v", before, after)
			}
		})
	}
}

func TestKeyCommitRefusals(t *testing.T) {
	a := testAlliance(t)
	commit := func(i uint64, edit func(*pb.CommitKeyShare)) *pb.CommitKeyShare {
		m := a.commit(i)
		if edit != nil {
			edit(m)
		}
		return m
	}
	cases := []struct {
		name         string
		ready        bool
		setup        func(t *testing.T, c *chain)
		signer       string // defaults to member 1's operator
		contractOnly bool
		msg          *pb.CommitKeyShare
		want         error
	}{
		{name: "a member's second commitment is refused, even the same bytes resent",
			setup: func(t *testing.T, c *chain) { c.must(t, c.op(1), hekeys.TypeKeyCommit, a.commit(1)) },
			msg:   commit(1, nil), want: contracts.ErrExists},
		{name: "a member's second, different commitment is refused",
			setup: func(t *testing.T, c *chain) { c.must(t, c.op(1), hekeys.TypeKeyCommit, a.commit(1)) },
			msg:   commit(2, nil), want: contracts.ErrExists},
		{name: "a commitment once every member committed is refused",
			setup: func(t *testing.T, c *chain) { c.commitAll(t) },
			msg:   commit(1, func(m *pb.CommitKeyShare) { m.Commitment = hashOf([]byte("rogue")) }), want: contracts.ErrExists},
		{name: "a commitment after the epoch is ready is refused",
			ready: true, msg: commit(1, nil), want: contracts.ErrWrongState},
		{name: "a commitment for an epoch that was never opened is refused",
			msg: commit(1, func(m *pb.CommitKeyShare) { m.Epoch = 2 }), want: contracts.ErrWrongState},
		{name: "a commitment for epoch 0 does not pass validation",
			msg: commit(1, func(m *pb.CommitKeyShare) { m.Epoch = 0 }), want: contracts.ErrInvalidPayload},
		{name: "a commitment of 31 bytes does not pass validation",
			msg: commit(1, func(m *pb.CommitKeyShare) { m.Commitment = m.Commitment[:31] }), want: contracts.ErrInvalidPayload},
		{name: "a commitment of 33 bytes does not pass validation",
			msg: commit(1, func(m *pb.CommitKeyShare) { m.Commitment = append(m.Commitment, 0) }), want: contracts.ErrInvalidPayload},
		{name: "an empty commitment does not pass validation",
			msg: commit(1, func(m *pb.CommitKeyShare) { m.Commitment = nil }), want: contracts.ErrInvalidPayload},
		{name: "the public-key share itself instead of its hash does not pass validation",
			msg: commit(1, func(m *pb.CommitKeyShare) { m.Commitment = a.members[0].post.PublicKeyShare }), want: contracts.ErrInvalidPayload},
		{name: "a doctor may not commit (role check)",
			signer: a.doctor, msg: commit(1, nil), want: contracts.ErrUnauthorized},
		{name: "a researcher may not commit (role check)",
			signer: a.researcher, msg: commit(1, nil), want: contracts.ErrUnauthorized},
		{name: "a doctor is refused by the contract too, were the role check skipped",
			signer: a.doctor, contractOnly: true, msg: commit(1, nil), want: contracts.ErrUnauthorized},
		{name: "an operator account its hospital's record does not name is refused by the contract",
			signer: a.impostor, msg: commit(2, nil), want: contracts.ErrUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c *chain
			if tc.ready {
				c = readyChain(t)
			} else {
				c = newChain(t)
			}
			if tc.setup != nil {
				tc.setup(t, c)
			}
			signer := tc.signer
			if signer == "" {
				signer = c.op(1)
			}
			before := proto.Clone(c.epoch(t))
			var commitments [][]byte
			for i := uint64(1); i <= 4; i++ {
				b, err := hekeys.GetCommitment(c.store, 1, i)
				if err != nil {
					t.Fatal(err)
				}
				commitments = append(commitments, b)
			}
			payload, err := proto.Marshal(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.execRaw(signer, hekeys.TypeKeyCommit, payload, !tc.contractOnly)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if after := c.epoch(t); !proto.Equal(before, after) {
				t.Errorf("a refused commitment changed the epoch: %v → %v", before, after)
			}
			for i := uint64(1); i <= 4; i++ {
				if b, _ := hekeys.GetCommitment(c.store, 1, i); !bytes.Equal(b, commitments[i-1]) {
					t.Errorf("a refused commitment changed member %d's stored commitment", i)
				}
			}
		})
	}
}

// TestAReplayedPublicKeyShareCannotStallTheCeremony: AggregatePublicKey
// refuses identical shares, so a member that replayed another's share,
// were it accepted, would make the last member's post fail forever. The
// commitment refuses the replay of a member that committed to its own
// share.
func TestAReplayedPublicKeyShareCannotStallTheCeremony(t *testing.T) {
	c := newChain(t)
	c.commitAll(t)
	c.must(t, c.op(1), hekeys.TypeKeyShare, c.a.post(1))
	replay := c.a.post(2)
	replay.PublicKeyShare = c.a.post(1).PublicKeyShare
	if _, err := c.exec(c.op(2), hekeys.TypeKeyShare, replay); !errors.Is(err, contracts.ErrInvalidPayload) {
		t.Fatalf("replayed share: err = %v, want ErrInvalidPayload (not the committed share)", err)
	}
	for i := uint64(2); i <= 4; i++ {
		c.must(t, c.op(i), hekeys.TypeKeyShare, c.a.post(i))
	}
	if !c.epoch(t).Ready {
		t.Fatal("the epoch is not ready after every member posted its own share")
	}
}

func TestRolesAreCheckedByAuthorize(t *testing.T) {
	r := contracts.NewRouter(hekeys.Handlers()...)
	payloads := map[string]proto.Message{
		hekeys.TypeKeyCommit: &pb.CommitKeyShare{Epoch: 1, Commitment: make([]byte, 32)},
		hekeys.TypeKeyShare:  &pb.PostKeyShare{Epoch: 1},
		hekeys.TypeSubmit:    &pb.SubmitCiphertext{Epoch: 1},
		hekeys.TypeRequest:   &pb.RequestDecryption{CiphertextHashes: [][]byte{make([]byte, 32)}},
		hekeys.TypeKSShare:   &pb.PostKeySwitchShare{Request: 1},
	}
	allowed := map[string]pb.Role{
		hekeys.TypeKeyCommit: pb.Role_ROLE_OPERATOR,
		hekeys.TypeKeyShare:  pb.Role_ROLE_OPERATOR,
		hekeys.TypeSubmit:    pb.Role_ROLE_OPERATOR,
		hekeys.TypeRequest:   pb.Role_ROLE_RESEARCHER,
		hekeys.TypeKSShare:   pb.Role_ROLE_OPERATOR,
	}
	for _, typ := range r.Types() {
		for v := range pb.Role_name {
			role := pb.Role(v)
			ok := role == allowed[typ]
			verdict := "may not"
			if ok {
				verdict = "may"
			}
			t.Run(fmt.Sprintf("%s %s send %s", role, verdict, typ), func(t *testing.T) {
				bz, _ := proto.Marshal(payloads[typ])
				p, err := r.Prepare(typ, bz)
				if err != nil {
					t.Fatal(err)
				}
				err = p.Authorize(role)
				if ok && err != nil || !ok && !errors.Is(err, contracts.ErrUnauthorized) {
					t.Fatalf("Authorize = %v", err)
				}
			})
		}
	}
	t.Run("the contract refuses a doctor's submission and share, were the role check skipped", func(t *testing.T) {
		c := readyChain(t)
		ct := c.a.encrypt(t, 1)
		for typ, msg := range map[string]proto.Message{
			hekeys.TypeSubmit:  &pb.SubmitCiphertext{Epoch: 1, Ciphertext: ct},
			hekeys.TypeKSShare: &pb.PostKeySwitchShare{Request: 1, Share: []byte{1}},
		} {
			bz, _ := proto.Marshal(msg)
			if _, err := c.execRaw(c.a.doctor, typ, bz, false); !errors.Is(err, contracts.ErrUnauthorized) {
				t.Errorf("%s by a doctor: err = %v, want ErrUnauthorized", typ, err)
			}
		}
	})
}

func TestSubmit(t *testing.T) {
	a := testAlliance(t)
	ct := a.encrypt(t, 1, 2, 3)
	pkShare := a.members[0].post.PublicKeyShare
	cases := []struct {
		name   string
		ready  bool
		setup  func(t *testing.T, c *chain)
		signer func(c *chain) string
		msg    *pb.SubmitCiphertext
		want   error // nil: accepted
	}{
		{name: "a member's ciphertext under the collective key is stored",
			ready: true, msg: &pb.SubmitCiphertext{Epoch: 1, Ciphertext: ct, Label: "cohort a"}},
		{name: "a ciphertext before the key is ready is refused",
			msg: &pb.SubmitCiphertext{Epoch: 1, Ciphertext: ct}, want: contracts.ErrWrongState},
		{name: "a ciphertext for an epoch that does not exist is refused",
			ready: true, msg: &pb.SubmitCiphertext{Epoch: 2, Ciphertext: ct}, want: contracts.ErrWrongState},
		{name: "a truncated ciphertext is refused",
			ready: true, msg: &pb.SubmitCiphertext{Epoch: 1, Ciphertext: ct[:len(ct)-1]}, want: contracts.ErrInvalidPayload},
		{name: "a ciphertext with a byte appended is refused",
			ready: true, msg: &pb.SubmitCiphertext{Epoch: 1, Ciphertext: append(bytes.Clone(ct), 0)}, want: contracts.ErrInvalidPayload},
		{name: "a public-key share posing as a ciphertext is refused",
			ready: true, msg: &pb.SubmitCiphertext{Epoch: 1, Ciphertext: pkShare}, want: contracts.ErrInvalidPayload},
		{name: "random bytes of a ciphertext's length are refused",
			ready: true, msg: &pb.SubmitCiphertext{Epoch: 1, Ciphertext: randomBytes(t, len(ct))}, want: contracts.ErrInvalidPayload},
		{name: "an empty ciphertext is refused",
			ready: true, msg: &pb.SubmitCiphertext{Epoch: 1}, want: contracts.ErrInvalidPayload},
		{name: "the same ciphertext submitted twice is refused, even by another member",
			ready: true, setup: func(t *testing.T, c *chain) { c.submit(t, 1, ct) },
			signer: func(c *chain) string { return c.op(2) },
			msg:    &pb.SubmitCiphertext{Epoch: 1, Ciphertext: ct}, want: contracts.ErrExists},
		{name: "a label over 128 bytes does not pass validation",
			ready: true, msg: &pb.SubmitCiphertext{Epoch: 1, Ciphertext: ct, Label: strings.Repeat("x", 129)}, want: contracts.ErrInvalidPayload},
		{name: "a doctor may not submit (role check)",
			ready: true, signer: func(c *chain) string { return c.a.doctor },
			msg: &pb.SubmitCiphertext{Epoch: 1, Ciphertext: ct}, want: contracts.ErrUnauthorized},
		{name: "an operator its hospital's record does not name is refused by the contract",
			ready: true, signer: func(c *chain) string { return c.a.impostor },
			msg: &pb.SubmitCiphertext{Epoch: 1, Ciphertext: ct}, want: contracts.ErrUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c *chain
			if tc.ready {
				c = readyChain(t)
			} else {
				c = newChain(t)
			}
			if tc.setup != nil {
				tc.setup(t, c)
			}
			signer := c.op(3)
			if tc.signer != nil {
				signer = tc.signer(c)
			}
			ev, err := c.exec(signer, hekeys.TypeSubmit, tc.msg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			bz, gerr := c.store.Get(hekeys.CiphertextKey(hashOf(tc.msg.Ciphertext)))
			if gerr != nil {
				t.Fatal(gerr)
			}
			if tc.want != nil {
				if tc.setup == nil && bz != nil {
					t.Error("a refused ciphertext has a record")
				}
				return
			}
			var rec pb.CiphertextRecord
			if err := tx.Unmarshal(bz, &rec); err != nil {
				t.Fatalf("record: %v", err)
			}
			if rec.Submitter != 3 || rec.Epoch != 1 || rec.Label != tc.msg.Label || rec.Height != c.block.Height || !bytes.Equal(rec.Hash, hashOf(ct)) {
				t.Errorf("record = %v", &rec)
			}
			if !bytes.Equal(c.blob(t, rec.Hash), ct) {
				t.Error("the blob is not the submitted ciphertext")
			}
			if got := attrOf(ev, hekeys.EventSubmitted, "submitter"); got != "3" {
				t.Errorf("submitted event submitter = %q", got)
			}
		})
	}
}

func TestRequest(t *testing.T) {
	a := testAlliance(t)
	base := readyChain(t)
	ctA, ctB := a.encrypt(t, 1), a.encrypt(t, 2)
	hA, hB := base.submit(t, 1, ctA), base.submit(t, 2, ctB)
	cases := []struct {
		name    string
		signers [][]byte
		signer  string
		msg     *pb.RequestDecryption
		want    error
	}{
		{name: "a request over t live members is accepted",
			signers: a.signers(1, 2, 3),
			msg:     &pb.RequestDecryption{CiphertextHashes: [][]byte{hA, hB}, ResearcherKey: a.researcherPub}},
		{name: "a request over an unknown ciphertext hash is refused",
			signers: a.signers(1, 2, 3, 4),
			msg:     &pb.RequestDecryption{CiphertextHashes: [][]byte{hA, hashOf([]byte("nothing"))}, ResearcherKey: a.researcherPub},
			want:    contracts.ErrNotFound},
		{name: "a request when fewer than t members signed the last block is refused",
			signers: a.signers(1, 4),
			msg:     &pb.RequestDecryption{CiphertextHashes: [][]byte{hA}, ResearcherKey: a.researcherPub},
			want:    contracts.ErrWrongState},
		{name: "signers that are no member's validator do not count as live",
			signers: append(a.signers(1, 4), bytes.Repeat([]byte{1}, 20), bytes.Repeat([]byte{2}, 20)),
			msg:     &pb.RequestDecryption{CiphertextHashes: [][]byte{hA}, ResearcherKey: a.researcherPub},
			want:    contracts.ErrWrongState},
		{name: "a request in a block with no last commit is refused",
			msg:  &pb.RequestDecryption{CiphertextHashes: [][]byte{hA}, ResearcherKey: a.researcherPub},
			want: contracts.ErrWrongState},
		{name: "a malformed researcher key is refused",
			signers: a.signers(1, 2, 3, 4),
			msg:     &pb.RequestDecryption{CiphertextHashes: [][]byte{hA}, ResearcherKey: a.researcherPub[1:]},
			want:    contracts.ErrInvalidPayload},
		{name: "the collective key is no researcher key",
			signers: a.signers(1, 2, 3, 4),
			msg:     &pb.RequestDecryption{CiphertextHashes: [][]byte{hA}, ResearcherKey: a.collectiveKey},
			want:    contracts.ErrInvalidPayload},
		{name: "a request over no ciphertext does not pass validation",
			signers: a.signers(1, 2, 3, 4),
			msg:     &pb.RequestDecryption{ResearcherKey: a.researcherPub}, want: contracts.ErrInvalidPayload},
		{name: "a request listing a ciphertext twice does not pass validation",
			signers: a.signers(1, 2, 3, 4),
			msg:     &pb.RequestDecryption{CiphertextHashes: [][]byte{hA, hA}, ResearcherKey: a.researcherPub},
			want:    contracts.ErrInvalidPayload},
		{name: "a hash that is not 32 bytes does not pass validation",
			signers: a.signers(1, 2, 3, 4),
			msg:     &pb.RequestDecryption{CiphertextHashes: [][]byte{hA[:31]}, ResearcherKey: a.researcherPub},
			want:    contracts.ErrInvalidPayload},
		{name: "an operator may not request a decryption (role check)",
			signers: a.signers(1, 2, 3, 4), signer: a.members[0].operator,
			msg:  &pb.RequestDecryption{CiphertextHashes: [][]byte{hA}, ResearcherKey: a.researcherPub},
			want: contracts.ErrUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := *base
			c.store = &memStore{data: maps.Clone(base.store.data)}
			c.block.Signers = tc.signers
			signer := tc.signer
			if signer == "" {
				signer = a.researcher
			}
			_, err := c.exec(signer, hekeys.TypeRequest, tc.msg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			pending, perr := hekeys.PendingRequests(c.store)
			if perr != nil {
				t.Fatal(perr)
			}
			if tc.want != nil {
				if len(pending) != 0 {
					t.Errorf("a refused request left %d pending", len(pending))
				}
				return
			}
			req := c.request(t, 1)
			agg, err := a.p.Add(ctA, ctB)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case req.Status != pb.DecryptionRequest_STATUS_PENDING:
				t.Errorf("status %s", req.Status)
			case req.Requester != a.researcher || req.Epoch != 1 || req.Height != c.block.Height:
				t.Errorf("request = %v", req)
			case req.DeadlineHeight != c.block.Height+int64(a.state.HE.ShareDeadlineBlocks):
				t.Errorf("deadline %d, want height + %d", req.DeadlineHeight, a.state.HE.ShareDeadlineBlocks)
			case !bytes.Equal(req.AggregateHash, hashOf(agg)) || !bytes.Equal(req.TargetKeyHash, hashOf(a.researcherPub)):
				t.Error("the request does not name the sum and the researcher's key")
			case !slices.Equal(req.ActiveSet, []uint64{1, 2, 3}):
				t.Errorf("active set %v, want the only three live members", req.ActiveSet)
			case len(pending) != 1 || pending[0].Id != 1:
				t.Errorf("pending = %v, want request 1", pending)
			}
		})
	}
}

// TestActiveSetRotation: the active set is exactly t live members, and its
// start rotates with the request id, so the work spreads.
func TestActiveSetRotation(t *testing.T) {
	c := readyChain(t)
	a := c.a
	steps := []struct {
		live []uint64
		want []uint64 // for request id = step + 1
	}{
		{[]uint64{1, 2, 3, 4}, []uint64{2, 3, 4}}, // id 1: start 1
		{[]uint64{1, 2, 3, 4}, []uint64{1, 3, 4}}, // id 2: start 2
		{[]uint64{1, 2, 3, 4}, []uint64{1, 2, 4}}, // id 3: start 3
		{[]uint64{1, 2, 3, 4}, []uint64{1, 2, 3}}, // id 4: start 0
		{[]uint64{1, 2, 4}, []uint64{1, 2, 4}},    // id 5: member 3 down
		{[]uint64{2, 3, 4}, []uint64{2, 3, 4}},    // id 6: member 1 down
		{[]uint64{1, 2, 3}, []uint64{1, 2, 3}},    // id 7: member 4 down
	}
	for i, s := range steps {
		id := uint64(i + 1)
		t.Run(fmt.Sprintf("request %d with members %v live gets active set %v", id, s.live, s.want), func(t *testing.T) {
			c.block.Signers = a.signers(s.live...)
			h := c.submit(t, 1, a.encrypt(t, int64(i)))
			req := c.ask(t, h)
			if req.Id != id || !slices.Equal(req.ActiveSet, s.want) {
				t.Fatalf("request %d active set %v, want request %d with %v", req.Id, req.ActiveSet, id, s.want)
			}
		})
	}
}

// TestAMaskIsReleasedOnce: the chain refuses a request whose sum has the
// mask of one it ever started, whatever became of that request.
func TestAMaskIsReleasedOnce(t *testing.T) {
	c := readyChain(t)
	a := c.a
	ctA, ctB, ctC := a.encrypt(t, 1), a.encrypt(t, 2), a.encrypt(t, 3)
	hA, hB, hC := c.submit(t, 1, ctA), c.submit(t, 2, ctB), c.submit(t, 3, ctC)
	c.ask(t, hA, hB)
	c.ask(t, hC)

	// crafted has ctA's body and ctC's mask: a new ciphertext (another
	// hash) that, for the protocol, is ctC again. The mask is the last
	// polynomial of the blob.
	polySize := 8 + len(a.p.Literal().Q)*(8+8*a.p.Slots())
	crafted := append(bytes.Clone(ctA[:len(ctA)-polySize]), ctC[len(ctC)-polySize:]...)
	if err := a.p.ValidateCiphertext(crafted); err != nil {
		t.Fatalf("crafted ciphertext: %v", err)
	}
	if m1, _ := a.p.MaskDigest(crafted); m1 != must(a.p.MaskDigest(ctC)) {
		t.Fatal("test bug: the crafted ciphertext does not share ctC's mask")
	}
	hCrafted := c.submit(t, 4, crafted)

	cases := []struct {
		name   string
		hashes [][]byte
		want   error
	}{
		{"the same ciphertexts asked for again are refused", [][]byte{hA, hB}, contracts.ErrWrongState},
		{"the same ciphertexts in another order are refused", [][]byte{hB, hA}, contracts.ErrWrongState},
		{"the same single ciphertext asked for again is refused", [][]byte{hC}, contracts.ErrWrongState},
		{"a new ciphertext crafted with a released mask is refused", [][]byte{hCrafted}, contracts.ErrWrongState},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.exec(a.researcher, hekeys.TypeRequest, &pb.RequestDecryption{CiphertextHashes: tc.hashes, ResearcherKey: a.researcherPub})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("a sum over a new ciphertext is accepted", func(t *testing.T) {
		c.ask(t, c.submit(t, 1, a.encrypt(t, 4)))
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err) // test helper on inputs the test already validated
	}
	return v
}

// pendingRequest returns a ready chain at height 3 with ciphertexts of
// vectors submitted and the researcher's request over them: id 1, active
// set 2, 3, 4, deadline 53.
func pendingRequest(t testing.TB, vectors ...[]int64) (*chain, *pb.DecryptionRequest) {
	t.Helper()
	c := readyChain(t)
	var hashes [][]byte
	for i, v := range vectors {
		hashes = append(hashes, c.submit(t, uint64(i%4+1), c.a.encrypt(t, v...)))
	}
	req := c.ask(t, hashes...)
	if req.Id != 1 || !slices.Equal(req.ActiveSet, []uint64{2, 3, 4}) || req.DeadlineHeight != 53 {
		t.Fatalf("request %d active %v deadline %d; the tests below assume 1, [2 3 4], 53", req.Id, req.ActiveSet, req.DeadlineHeight)
	}
	return c, req
}

func TestKeySwitchShareRefusals(t *testing.T) {
	base, req := pendingRequest(t, []int64{1, 2}, []int64{3, 4})
	share2 := base.ksShare(t, 2, req)
	share3 := base.ksShare(t, 3, req)
	share4 := base.ksShare(t, 4, req)
	ctA := base.blob(t, req.AggregateHash)
	cases := []struct {
		name   string
		height int64
		setup  func(t *testing.T, c *chain)
		member uint64 // the operator of this member sends, unless signer is set
		signer string
		msg    *pb.PostKeySwitchShare
		want   error
	}{
		{name: "an active member's share is accepted", member: 2, msg: share2},
		{name: "a share at the deadline height is accepted", height: 53, member: 2, msg: share2},
		{name: "a member outside the active set is refused", member: 1,
			msg: &pb.PostKeySwitchShare{Request: 1, Share: share2.Share}, want: contracts.ErrUnauthorized},
		{name: "a member's second share is refused",
			setup:  func(t *testing.T, c *chain) { c.must(t, c.op(2), hekeys.TypeKSShare, share2) },
			member: 2, msg: share2, want: contracts.ErrExists},
		{name: "a truncated share is refused", member: 2,
			msg: &pb.PostKeySwitchShare{Request: 1, Share: share2.Share[:len(share2.Share)-1]}, want: contracts.ErrInvalidPayload},
		{name: "random bytes of a share's length are refused", member: 2,
			msg: &pb.PostKeySwitchShare{Request: 1, Share: randomBytes(t, len(share2.Share))}, want: contracts.ErrInvalidPayload},
		{name: "a ciphertext posing as a share is refused", member: 2,
			msg: &pb.PostKeySwitchShare{Request: 1, Share: ctA}, want: contracts.ErrInvalidPayload},
		{name: "an empty share is refused", member: 2,
			msg: &pb.PostKeySwitchShare{Request: 1}, want: contracts.ErrInvalidPayload},
		{name: "a share after the deadline is refused", height: 54, member: 2, msg: share2, want: contracts.ErrWrongState},
		{name: "a share for an unknown request is refused", member: 2,
			msg: &pb.PostKeySwitchShare{Request: 9, Share: share2.Share}, want: contracts.ErrNotFound},
		{name: "a share for a request that is done is refused",
			setup: func(t *testing.T, c *chain) {
				for i, s := range map[uint64]*pb.PostKeySwitchShare{2: share2, 3: share3, 4: share4} {
					c.must(t, c.op(i), hekeys.TypeKSShare, s)
				}
			},
			member: 2, msg: share2, want: contracts.ErrWrongState},
		{name: "a doctor may not post a share (role check)", signer: base.a.doctor, msg: share2, want: contracts.ErrUnauthorized},
		{name: "an operator its hospital's record does not name is refused by the contract",
			signer: base.a.impostor, msg: share2, want: contracts.ErrUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := *base
			c.store = &memStore{data: maps.Clone(base.store.data)}
			if tc.setup != nil {
				tc.setup(t, &c)
			}
			if tc.height != 0 {
				c.block.Height = tc.height
			}
			signer := tc.signer
			if signer == "" {
				signer = c.op(tc.member)
			}
			ev, err := c.exec(signer, hekeys.TypeKSShare, tc.msg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == nil {
				if got := c.request(t, 1); !slices.Equal(got.Posted, []uint64{tc.member}) || got.Status != pb.DecryptionRequest_STATUS_PENDING {
					t.Errorf("after one share the request is %s with %v posted", got.Status, got.Posted)
				}
				if attrOf(ev, hekeys.EventKSSharePosted, "member") != fmt.Sprint(tc.member) {
					t.Error("no ks_share_posted event")
				}
			}
		})
	}
}

func TestADecryptionWithTSharesIsDone(t *testing.T) {
	vectors := [][]int64{{100, -5, 7}, {1, 2, 3, 4}, {-100, 5, 0, 0, 9}}
	c, req := pendingRequest(t, vectors...)
	for _, m := range req.ActiveSet[:2] {
		c.must(t, c.op(m), hekeys.TypeKSShare, c.ksShare(t, m, req))
	}
	if got := c.request(t, req.Id); got.Status != pb.DecryptionRequest_STATUS_PENDING || got.ResultHash != nil {
		t.Fatalf("after t−1 shares the request is %s", got.Status)
	}
	ev := c.must(t, c.op(4), hekeys.TypeKSShare, c.ksShare(t, 4, req))
	done := c.request(t, req.Id)
	if done.Status != pb.DecryptionRequest_STATUS_DONE || !slices.Equal(done.Posted, []uint64{2, 3, 4}) {
		t.Fatalf("after t shares the request is %s with %v posted", done.Status, done.Posted)
	}
	if got := attrOf(ev, hekeys.EventRequestDone, "id"); got != "1" {
		t.Errorf("request_done id = %q", got)
	}
	if pending, err := hekeys.PendingRequests(c.store); err != nil || len(pending) != 0 {
		t.Errorf("pending after done = %v, %v; want none", pending, err)
	}
	checkDecrypts(t, c.a, c.blob(t, done.ResultHash), sum(vectors...))
	if ev := c.endBlock(t, 100); len(ev) != 0 {
		t.Errorf("EndBlock after the deadline touched a done request: %v", ev)
	}
	if got := c.request(t, req.Id); got.Status != pb.DecryptionRequest_STATUS_DONE {
		t.Errorf("a done request became %s", got.Status)
	}
}

func TestARequestPastItsDeadlineFails(t *testing.T) {
	cases := []struct {
		name    string
		posted  []uint64
		missing string
	}{
		{"with t−1 shares the request fails naming the missing member", []uint64{2, 3}, "members 4 "},
		{"with one share the request fails naming both missing members", []uint64{3}, "members 2,4 "},
		{"with no share the request fails naming the whole active set", nil, "members 2,3,4 "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, req := pendingRequest(t, []int64{7}, []int64{8})
			for _, m := range tc.posted {
				c.must(t, c.op(m), hekeys.TypeKSShare, c.ksShare(t, m, req))
			}
			if ev := c.endBlock(t, req.DeadlineHeight); len(ev) != 0 {
				t.Fatalf("EndBlock at the deadline height failed the request: %v", ev)
			}
			if got := c.request(t, req.Id); got.Status != pb.DecryptionRequest_STATUS_PENDING {
				t.Fatalf("at the deadline the request is %s", got.Status)
			}
			ev := c.endBlock(t, req.DeadlineHeight+1)
			failed := c.request(t, req.Id)
			if failed.Status != pb.DecryptionRequest_STATUS_FAILED || failed.ResultHash != nil {
				t.Fatalf("after the deadline the request is %s", failed.Status)
			}
			if !strings.HasPrefix(failed.Reason, tc.missing) {
				t.Errorf("reason %q does not start with %q", failed.Reason, tc.missing)
			}
			if attrOf(ev, hekeys.EventRequestFailed, "id") != "1" || attrOf(ev, hekeys.EventRequestFailed, "reason") != failed.Reason {
				t.Errorf("events %v, want request_failed for 1 with the reason", ev)
			}
			start, end := hekeys.PendingPrefix()
			if it, err := c.store.Iterator(start, end, true); err != nil || it.Valid() {
				t.Error("the pending index still holds the failed request")
			}
			if ev := c.endBlock(t, req.DeadlineHeight+2); len(ev) != 0 {
				t.Errorf("a second EndBlock emitted %v", ev)
			}
			c.block.Height = req.DeadlineHeight + 2
			for _, m := range req.ActiveSet {
				if slices.Contains(tc.posted, m) {
					continue
				}
				if _, err := c.exec(c.op(m), hekeys.TypeKSShare, c.ksShare(t, m, req)); !errors.Is(err, contracts.ErrWrongState) {
					t.Errorf("member %d's late share: err = %v, want ErrWrongState", m, err)
				}
			}
			_, err := c.exec(c.a.researcher, hekeys.TypeRequest, &pb.RequestDecryption{
				CiphertextHashes: hashesOf(t, c), ResearcherKey: c.a.researcherPub})
			if !errors.Is(err, contracts.ErrWrongState) {
				t.Errorf("asking again over the same ciphertexts: err = %v, want ErrWrongState (never retried)", err)
			}
		})
	}
}

// hashesOf lists the hashes of every submitted ciphertext.
func hashesOf(t testing.TB, c *chain) [][]byte {
	t.Helper()
	var out [][]byte
	for k := range c.store.data {
		if k[0] == hekeys.CiphertextKey(nil)[0] {
			out = append(out, []byte(k[1:]))
		}
	}
	slices.SortFunc(out, bytes.Compare)
	return out
}

// TestSealedSharesOpenOnlyForTheirRecipient: what a member posts can be
// opened by its recipient alone.
func TestSealedSharesOpenOnlyForTheirRecipient(t *testing.T) {
	a := testAlliance(t)
	s := a.members[0].post.Shares[0] // member 1 → member 2
	r, other := a.members[s.Recipient-1], a.members[2]
	if got, ok := box.OpenAnonymous(nil, s.Sealed, &r.sealPub, &r.sealPriv); !ok || !bytes.Equal(got, a.members[0].dealt[r.index]) {
		t.Fatal("the recipient cannot open its share")
	}
	if _, ok := box.OpenAnonymous(nil, s.Sealed, &other.sealPub, &other.sealPriv); ok {
		t.Fatal("another member opened a share not sealed to it")
	}
}

// TestAnAllianceWithoutHE: with no "he" section in genesis no key epoch
// opens, and every HE tx is refused as not allowed in this state.
func TestAnAllianceWithoutHE(t *testing.T) {
	a := testAlliance(t)
	s := *a.state
	s.HE = nil
	st := &memStore{data: map[string][]byte{}}
	if err := accounts.InitGenesis(st, &s); err != nil {
		t.Fatal(err)
	}
	if err := hekeys.InitGenesis(st); err != nil {
		t.Fatal(err)
	}
	if ep, err := hekeys.GetEpoch(st, 1); ep != nil || err != nil {
		t.Fatalf("epoch 1 = %v, %v; want none", ep, err)
	}
	c := &chain{a: a, store: st, router: router, block: contracts.Block{Height: 2, ChainID: testChainID, Signers: a.signers(1, 2, 3, 4)}}
	for typ, msg := range map[string]proto.Message{
		hekeys.TypeKeyCommit: a.commit(1),
		hekeys.TypeKeyShare:  a.post(1),
		hekeys.TypeSubmit:    &pb.SubmitCiphertext{Epoch: 1, Ciphertext: a.encrypt(t, 1)},
		hekeys.TypeKSShare:   &pb.PostKeySwitchShare{Request: 1, Share: []byte{1}},
	} {
		if _, err := c.exec(c.op(1), typ, msg); !errors.Is(err, contracts.ErrWrongState) {
			t.Errorf("%s: err = %v, want ErrWrongState", typ, err)
		}
	}
	if _, err := c.exec(a.researcher, hekeys.TypeRequest, &pb.RequestDecryption{CiphertextHashes: [][]byte{make([]byte, 32)}, ResearcherKey: a.researcherPub}); !errors.Is(err, contracts.ErrWrongState) {
		t.Errorf("request: err = %v, want ErrWrongState", err)
	}
}

// askPublic is the researcher's public request over hashes.
func (c *chain) askPublic(tb testing.TB, hashes ...[]byte) *pb.DecryptionRequest {
	tb.Helper()
	ev := c.must(tb, c.a.researcher, hekeys.TypeRequest, &pb.RequestDecryption{CiphertextHashes: hashes, Public: true})
	var n uint64
	if _, err := fmt.Sscan(attrOf(ev, hekeys.EventRequestCreated, "id"), &n); err != nil {
		tb.Fatalf("request_created id: %v", err)
	}
	if attrOf(ev, hekeys.EventRequestCreated, "public") != "true" {
		tb.Error("request_created does not say public=true")
	}
	return c.request(tb, n)
}

// decShare is member i's public decryption share for req.
func (c *chain) decShare(tb testing.TB, i uint64, req *pb.DecryptionRequest) *pb.PostKeySwitchShare {
	tb.Helper()
	s, err := c.a.p.GenDecryptShare(c.a.ts[i], req.ActiveSet, c.blob(tb, req.AggregateHash))
	if err != nil {
		tb.Fatalf("member %d's decryption share: %v", i, err)
	}
	return &pb.PostKeySwitchShare{Request: req.Id, Share: s}
}

func TestAPublicDecryption(t *testing.T) {
	vectors := [][]int64{{40, 1}, {2, -1}, {0, 0, 5}}
	want := sum(vectors...)
	setup := func(t *testing.T) (*chain, *pb.DecryptionRequest) {
		c := readyChain(t)
		var hashes [][]byte
		for i, v := range vectors {
			hashes = append(hashes, c.submit(t, uint64(i%4+1), c.a.encrypt(t, v...)))
		}
		req := c.askPublic(t, hashes...)
		if !req.Public || req.TargetKeyHash != nil || len(req.ActiveSet) != 3 {
			t.Fatalf("public request stored as public=%v target=%x active=%v", req.Public, req.TargetKeyHash, req.ActiveSet)
		}
		return c, req
	}

	t.Run("t decryption shares store the exact sum in clear, trailing zero slots trimmed", func(t *testing.T) {
		c, req := setup(t)
		for _, m := range req.ActiveSet[:2] {
			c.must(t, c.op(m), hekeys.TypeKSShare, c.decShare(t, m, req))
		}
		if got := c.request(t, req.Id); got.Status != pb.DecryptionRequest_STATUS_PENDING || got.ResultValues != nil {
			t.Fatalf("after t−1 shares: %s, values %v", got.Status, got.ResultValues)
		}
		last := req.ActiveSet[2]
		ev := c.must(t, c.op(last), hekeys.TypeKSShare, c.decShare(t, last, req))
		done := c.request(t, req.Id)
		if done.Status != pb.DecryptionRequest_STATUS_DONE || !slices.Equal(done.ResultValues, want) || done.ResultHash != nil {
			t.Fatalf("done = %s, values %v (want %v), result hash %x", done.Status, done.ResultValues, want, done.ResultHash)
		}
		if attrOf(ev, hekeys.EventRequestDone, "public") != "true" {
			t.Error("request_done does not say public=true")
		}
	})
	t.Run("a key-switching share is refused on a public request", func(t *testing.T) {
		c, req := setup(t)
		// A key-switching share to the researcher's key, had one been named.
		s, err := c.a.p.GenKeySwitchShare(c.a.ts[req.ActiveSet[0]], req.ActiveSet, c.blob(t, req.AggregateHash), c.a.researcherPub)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.exec(c.op(req.ActiveSet[0]), hekeys.TypeKSShare, &pb.PostKeySwitchShare{Request: req.Id, Share: s}); !errors.Is(err, contracts.ErrInvalidPayload) {
			t.Fatalf("err = %v, want invalid payload", err)
		}
	})
	t.Run("a decryption share is refused on a request for a researcher", func(t *testing.T) {
		c, req := pendingRequest(t, []int64{1})
		s, err := c.a.p.GenDecryptShare(c.a.ts[2], req.ActiveSet, c.blob(t, req.AggregateHash))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.exec(c.op(2), hekeys.TypeKSShare, &pb.PostKeySwitchShare{Request: req.Id, Share: s}); !errors.Is(err, contracts.ErrInvalidPayload) {
			t.Fatalf("err = %v, want invalid payload", err)
		}
	})
	t.Run("a public request that also names a researcher key is refused", func(t *testing.T) {
		c := readyChain(t)
		h := c.submit(t, 1, c.a.encrypt(t, 1))
		_, err := c.exec(c.a.researcher, hekeys.TypeRequest, &pb.RequestDecryption{CiphertextHashes: [][]byte{h}, Public: true, ResearcherKey: c.a.researcherPub})
		if !errors.Is(err, contracts.ErrInvalidPayload) {
			t.Fatalf("err = %v, want invalid payload", err)
		}
	})
	t.Run("a sum released in public is never released again, to a researcher either", func(t *testing.T) {
		c, _ := setup(t)
		_, err := c.exec(c.a.researcher, hekeys.TypeRequest, &pb.RequestDecryption{CiphertextHashes: hashesOf(t, c), ResearcherKey: c.a.researcherPub})
		if !errors.Is(err, contracts.ErrWrongState) {
			t.Fatalf("err = %v, want wrong state", err)
		}
	})
	t.Run("a public request past its deadline fails like any other", func(t *testing.T) {
		c, req := setup(t)
		c.must(t, c.op(req.ActiveSet[0]), hekeys.TypeKSShare, c.decShare(t, req.ActiveSet[0], req))
		c.endBlock(t, req.DeadlineHeight+1)
		if got := c.request(t, req.Id); got.Status != pb.DecryptionRequest_STATUS_FAILED || got.ResultValues != nil {
			t.Fatalf("after the deadline: %s, values %v", got.Status, got.ResultValues)
		}
	})
}
