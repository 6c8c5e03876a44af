package hework

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/hekeys"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/he"
	"github.com/medchain/medchain/node/chainrpc"
)

// fakeChain simulates one node of a medchain alliance as the hekeys and
// governance contracts specify it: the queries the worker reads, a mempool
// with CheckTx's nonce rules, and blocks that run the ceremony (commit,
// then reveal) of every key epoch and the decryption request rules. Tests
// commit blocks explicitly, and open epochs, admit and remove hospitals as
// a governance vote would.
type fakeChain struct {
	mu      sync.Mutex
	t       testing.TB
	p       *he.Params
	chainID string
	height  int64

	hospitals []*pb.Hospital
	accounts  map[string]*pb.Account
	epochs    map[uint64]*fakeEpoch
	// epoch, commits, keyShares and pkShares are epoch 1's (the tests of
	// one ceremony read them).
	epoch     *pb.KeyEpoch
	commits   map[uint64][]byte
	keyShares map[uint64]*pb.KeyShareRecord
	pkShares  map[uint64][]byte
	blobs     map[string][]byte
	requests  map[uint64]*pb.DecryptionRequest
	ksShares  map[uint64]map[uint64][]byte
	nextReq   uint64
	deadline  int64

	mempool    [][]byte
	checkNonce map[string]uint64
	results    map[string]chainrpc.TxResult
	sent       []sentTx // every tx CheckTx accepted, in order

	failBroadcasts int    // fail this many next broadcasts with an error
	panicOn        string // a query path that panics (a bug under test)
}

// fakeEpoch is one key epoch's state.
type fakeEpoch struct {
	ep        *pb.KeyEpoch
	commits   map[uint64][]byte // by member: its commitment (hekeys.Commitment)
	keyShares map[uint64]*pb.KeyShareRecord
	pkShares  map[uint64][]byte
}

func newFakeEpoch(e uint64, members []uint64, threshold uint32) *fakeEpoch {
	return &fakeEpoch{
		ep:      &pb.KeyEpoch{Epoch: e, Members: members, Threshold: threshold},
		commits: map[uint64][]byte{}, keyShares: map[uint64]*pb.KeyShareRecord{}, pkShares: map[uint64][]byte{},
	}
}

// sentTx is a tx that entered the mempool.
type sentTx struct {
	signer  string
	nonce   uint64
	typ     string
	payload []byte
}

// newFakeChain returns a chain at height 1 whose key epoch 1 has
// threshold t and, as yet, no members (addHospital adds genesis members).
func newFakeChain(t testing.TB, p *he.Params, threshold uint32, deadline int64) *fakeChain {
	e1 := newFakeEpoch(1, nil, threshold)
	return &fakeChain{
		t: t, p: p, chainID: "medchain-test", height: 1, deadline: deadline,
		accounts: map[string]*pb.Account{}, epochs: map[uint64]*fakeEpoch{1: e1},
		epoch: e1.ep, commits: e1.commits, keyShares: e1.keyShares, pkShares: e1.pkShares,
		blobs: map[string][]byte{}, requests: map[uint64]*pb.DecryptionRequest{}, ksShares: map[uint64]map[uint64][]byte{},
		nextReq: 1, checkNonce: map[string]uint64{}, results: map[string]chainrpc.TxResult{},
	}
}

// addHospital registers a genesis member (one of key epoch 1's) with its
// operator key and seal public key.
func (c *fakeChain) addHospital(op ed25519.PublicKey, sealPub []byte) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	idx := c.register(op, sealPub)
	c.epoch.Members = append(c.epoch.Members, idx)
	return idx
}

// register adds a hospital with the next member index and its operator
// account, as genesis or an admit-hospital vote does.
func (c *fakeChain) register(op ed25519.PublicKey, sealPub []byte) uint64 {
	idx := uint64(len(c.hospitals) + 1)
	addr := pb.AddressOf(op)
	c.hospitals = append(c.hospitals, &pb.Hospital{Id: fmt.Sprintf("h%d", idx), Operator: addr, MemberIndex: idx, SealPubkey: sealPub,
		AdmittedHeight: c.height})
	c.accounts[addr] = &pb.Account{Address: addr, Pubkey: op, Role: pb.Role_ROLE_OPERATOR}
	return idx
}

// admit carries out an admit-hospital vote for m's home (it must not be
// on chain yet): a hospital with the next member index. As the governance
// contract does, call openEpoch next.
func (c *fakeChain) admit(m *member) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, pub, err := sealKeyPair(m.seal)
	if err != nil {
		c.t.Fatal(err)
	}
	m.index = c.register(m.operator.Public().(ed25519.PublicKey), pub[:])
}

// remove carries out a remove-hospital vote for member idx: the hospital
// is kept with removed_height and its operator account is retired.
func (c *fakeChain) remove(idx uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.hospitals[idx-1]
	h.RemovedHeight, h.Power = c.height, 0
	acc := c.accounts[h.Operator]
	acc.RetiredRole, acc.Role, acc.RetiredHeight = acc.Role, pb.Role_ROLE_UNSPECIFIED, c.height
}

// openEpoch opens the next key epoch over the hospitals not removed, with
// threshold t (hekeys.StartEpoch), and returns its number.
func (c *fakeChain) openEpoch(t uint32) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var members []uint64
	for _, h := range c.hospitals {
		if h.RemovedHeight == 0 {
			members = append(members, h.MemberIndex)
		}
	}
	e := uint64(len(c.epochs) + 1)
	c.epochs[e] = newFakeEpoch(e, members, t)
	return e
}

// epochState returns a copy of key epoch e as the chain holds it now.
func (c *fakeChain) epochState(e uint64) *pb.KeyEpoch {
	c.mu.Lock()
	defer c.mu.Unlock()
	return proto.Clone(c.epochs[e].ep).(*pb.KeyEpoch)
}

func (c *fakeChain) putBlob(b []byte) []byte {
	h := blobHash(b)
	c.blobs[hex.EncodeToString(h)] = slices.Clone(b)
	return h
}

func marshal(t testing.TB, m proto.Message) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (c *fakeChain) Query(_ context.Context, path string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if path == c.panicOn {
		panic("fake chain: bug under test")
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	num := func(s string) uint64 { n, _ := strconv.ParseUint(s, 10, 64); return n }
	switch {
	case path == hospitalsPath:
		return marshal(c.t, &pb.HospitalList{Hospitals: c.hospitals}), nil
	case parts[0] == "account" && len(parts) == 2:
		if a := c.accounts[parts[1]]; a != nil {
			return marshal(c.t, a), nil
		}
		return nil, nil
	case parts[0] == "he" && parts[1] == "epoch" && len(parts) == 3:
		if e := c.epochs[num(parts[2])]; e != nil {
			return marshal(c.t, e.ep), nil
		}
		return nil, nil
	case parts[0] == "he" && parts[1] == "commit" && len(parts) == 4:
		if e := c.epochs[num(parts[2])]; e != nil {
			return slices.Clone(e.commits[num(parts[3])]), nil
		}
		return nil, nil
	case parts[0] == "he" && parts[1] == "keyshare" && len(parts) == 4:
		if e := c.epochs[num(parts[2])]; e != nil && e.keyShares[num(parts[3])] != nil {
			return marshal(c.t, e.keyShares[num(parts[3])]), nil
		}
		return nil, nil
	case parts[0] == "blob" && len(parts) == 2:
		return slices.Clone(c.blobs[parts[1]]), nil
	case parts[0] == "he" && parts[1] == "request" && len(parts) == 3:
		if r := c.requests[num(parts[2])]; r != nil {
			return marshal(c.t, r), nil
		}
		return nil, nil
	case path == pendingPath:
		var out pb.DecryptionRequestList
		ids := make([]uint64, 0, len(c.requests))
		for id := range c.requests {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			if r := c.requests[id]; r.Status == pb.DecryptionRequest_STATUS_PENDING {
				out.Requests = append(out.Requests, r)
			}
		}
		if len(out.Requests) == 0 {
			return nil, nil
		}
		return marshal(c.t, &out), nil
	}
	return nil, fmt.Errorf("fake chain: unknown path %q", path)
}

func (c *fakeChain) Broadcast(_ context.Context, raw []byte) (chainrpc.Broadcast, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failBroadcasts > 0 {
		c.failBroadcasts--
		return chainrpc.Broadcast{}, errors.New("fake chain: connection lost")
	}
	hash := tx.Hash(raw)
	if _, ok := c.results[string(hash)]; ok {
		return chainrpc.Broadcast{Hash: hash, InCache: true}, nil
	}
	for _, m := range c.mempool {
		if bytes.Equal(m, raw) {
			return chainrpc.Broadcast{Hash: hash, InCache: true}, nil
		}
	}
	d, acc, err := c.authenticate(raw, c.checkNonce)
	if err != nil {
		return chainrpc.Broadcast{Code: codeOf(err), Log: err.Error(), Hash: hash}, nil
	}
	c.checkNonce[acc.Address] = d.Body.Nonce + 1
	c.mempool = append(c.mempool, raw)
	c.sent = append(c.sent, sentTx{signer: acc.Address, nonce: d.Body.Nonce, typ: d.Body.Type, payload: d.Body.Payload})
	return chainrpc.Broadcast{Hash: hash}, nil
}

type codeErr struct {
	code uint32
	msg  string
}

func (e codeErr) Error() string { return e.msg }

// Codes of the refusals the fake chain makes (abci.Codes).
const (
	codeInvalidPayload uint32 = 9
	codeUnauthorized   uint32 = 10
	codeNotFound       uint32 = 11
	codeWrongState     uint32 = 15
)

func codeOf(err error) uint32 {
	var ce codeErr
	if errors.As(err, &ce) {
		return ce.code
	}
	return codeInvalidPayload
}

func (c *fakeChain) authenticate(raw []byte, overlay map[string]uint64) (*tx.Decoded, *pb.Account, error) {
	d, err := tx.Decode(raw, tx.AbsoluteMaxBytes)
	if err != nil {
		return nil, nil, err
	}
	acc := c.accounts[d.Body.Signer]
	if acc == nil || d.Body.ChainId != c.chainID {
		return nil, nil, errors.New("unknown signer or chain")
	}
	if err := d.Verify(acc.Pubkey); err != nil {
		return nil, nil, err
	}
	want := acc.Sequence
	if n, ok := overlay[acc.Address]; ok && n > want {
		want = n
	}
	switch {
	case d.Body.Nonce < want:
		return nil, nil, codeErr{codeNonceReplayed, fmt.Sprintf("nonce_replayed: %d < %d", d.Body.Nonce, want)}
	case d.Body.Nonce > want:
		return nil, nil, codeErr{codeNonceSkipped, fmt.Sprintf("nonce_skipped: %d > %d", d.Body.Nonce, want)}
	}
	return d, acc, nil
}

func (c *fakeChain) TxResult(_ context.Context, hash []byte) (chainrpc.TxResult, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.results[string(hash)]
	return r, ok, nil
}

func (c *fakeChain) Height(context.Context) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.height, nil
}

// dropMempool loses every pending tx, as a crashed node does.
func (c *fakeChain) dropMempool() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mempool = nil
	clear(c.checkNonce)
}

// commit runs a block of every pending tx, then fails requests past their
// deadline.
func (c *fakeChain) commit() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.height++
	for _, raw := range c.mempool {
		res := chainrpc.TxResult{Height: c.height}
		d, acc, err := c.authenticate(raw, nil)
		if err == nil {
			acc.Sequence = d.Body.Nonce + 1
			err = c.exec(acc, d.Body.Type, d.Body.Payload)
		}
		if err != nil {
			res.Code, res.Log = codeOf(err), err.Error()
		}
		c.results[string(tx.Hash(raw))] = res
	}
	c.mempool = nil
	clear(c.checkNonce)
	for _, r := range c.requests {
		if r.Status == pb.DecryptionRequest_STATUS_PENDING && c.height > r.DeadlineHeight {
			r.Status, r.Reason = pb.DecryptionRequest_STATUS_FAILED, "deadline passed"
		}
	}
}

func (c *fakeChain) member(addr string) uint64 {
	for _, h := range c.hospitals {
		if h.Operator == addr {
			return h.MemberIndex
		}
	}
	return 0
}

func (c *fakeChain) exec(acc *pb.Account, typ string, payload []byte) error {
	me := c.member(acc.Address)
	if me == 0 || acc.Role != pb.Role_ROLE_OPERATOR {
		return codeErr{codeUnauthorized, "unauthorized"}
	}
	switch typ {
	case hekeys.TypeKeyCommit:
		var m pb.CommitKeyShare
		if err := tx.Unmarshal(payload, &m); err != nil {
			return err
		}
		if len(m.Commitment) != 32 {
			return codeErr{codeInvalidPayload, "invalid_payload: commitment is not 32 bytes"}
		}
		fe := c.epochs[m.Epoch]
		if fe == nil || fe.ep.Ready {
			return codeErr{codeWrongState, "wrong_state: epoch not open or complete"}
		}
		if !slices.Contains(fe.ep.Members, me) {
			return codeErr{codeUnauthorized, "unauthorized: not a member of the epoch"}
		}
		if slices.Contains(fe.ep.Committed, me) {
			return codeErr{codeExists, "already_exists"}
		}
		fe.commits[me] = slices.Clone(m.Commitment)
		fe.ep.Committed = append(fe.ep.Committed, me)
		slices.Sort(fe.ep.Committed)
		return nil
	case hekeys.TypeKeyShare:
		var m pb.PostKeyShare
		if err := tx.Unmarshal(payload, &m); err != nil {
			return err
		}
		fe := c.epochs[m.Epoch]
		if fe == nil || fe.ep.Ready {
			return codeErr{codeWrongState, "wrong_state: epoch not open or complete"}
		}
		ep := fe.ep
		if !slices.Contains(ep.Members, me) {
			return codeErr{codeUnauthorized, "unauthorized: not a member of the epoch"}
		}
		if fe.keyShares[me] != nil {
			return codeErr{codeExists, "already_exists"}
		}
		if len(ep.Committed) != len(ep.Members) {
			return codeErr{codeWrongState, "wrong_state: not every member has committed"}
		}
		if !bytes.Equal(hekeys.Commitment(c.chainID, m.Epoch, me, m.PublicKeyShare), fe.commits[me]) {
			return codeErr{codeInvalidPayload, "invalid_payload: public_key_share does not match the commitment"}
		}
		if err := c.p.ValidatePublicKeyShare(m.PublicKeyShare); err != nil {
			return err
		}
		for d, pk := range fe.pkShares {
			if bytes.Equal(pk, m.PublicKeyShare) {
				return codeErr{codeExists, fmt.Sprintf("already_exists: member %d's share", d)}
			}
		}
		rec := &pb.KeyShareRecord{Epoch: m.Epoch, Dealer: me, PublicKeyShareHash: c.putBlob(m.PublicKeyShare), Height: c.height}
		var want []uint64
		for _, x := range ep.Members {
			if x != me {
				want = append(want, x)
			}
		}
		if len(m.Shares) != len(want) {
			return fmt.Errorf("%d sealed shares, want %d", len(m.Shares), len(want))
		}
		for i, s := range m.Shares {
			if s.Recipient != want[i] {
				return fmt.Errorf("share %d for %d, want %d", i, s.Recipient, want[i])
			}
			rec.Shares = append(rec.Shares, &pb.SealedShareRef{Recipient: s.Recipient, Hash: c.putBlob(s.Sealed)})
		}
		fe.keyShares[me] = rec
		fe.pkShares[me] = m.PublicKeyShare
		ep.Posted = append(ep.Posted, me)
		slices.Sort(ep.Posted)
		if len(ep.Posted) == len(ep.Members) {
			var shares [][]byte
			for _, x := range ep.Members {
				shares = append(shares, fe.pkShares[x])
			}
			pk, err := c.p.AggregatePublicKey(he.CRPSeed(c.chainID, m.Epoch), shares)
			if err != nil {
				return err
			}
			ep.Ready, ep.PublicKeyHash, ep.ReadyHeight = true, c.putBlob(pk), c.height
		}
		return nil
	case hekeys.TypeKSShare:
		var m pb.PostKeySwitchShare
		if err := tx.Unmarshal(payload, &m); err != nil {
			return err
		}
		r := c.requests[m.Request]
		if r == nil {
			return codeErr{codeNotFound, "not_found"}
		}
		if r.Status != pb.DecryptionRequest_STATUS_PENDING || c.height > r.DeadlineHeight {
			return codeErr{codeWrongState, "wrong_state: request is over"}
		}
		if !slices.Contains(r.ActiveSet, me) {
			return codeErr{codeUnauthorized, "not in the active set"}
		}
		if slices.Contains(r.Posted, me) {
			return codeErr{codeExists, "already_exists"}
		}
		validate := c.p.ValidateKeySwitchShare
		if r.Public {
			validate = c.p.ValidateDecryptShare
		}
		if err := validate(m.Share); err != nil {
			return err
		}
		c.ksShares[r.Id][me] = m.Share
		r.Posted = append(r.Posted, me)
		slices.Sort(r.Posted)
		if len(r.Posted) == len(r.ActiveSet) {
			var shares [][]byte
			for _, x := range r.ActiveSet {
				shares = append(shares, c.ksShares[r.Id][x])
			}
			agg := c.blobs[hex.EncodeToString(r.AggregateHash)]
			if r.Public {
				values, err := c.p.DecryptPublic(agg, shares)
				if err != nil {
					return err
				}
				r.Status, r.ResultValues = pb.DecryptionRequest_STATUS_DONE, values
				return nil
			}
			out, err := c.p.KeySwitch(agg, shares)
			if err != nil {
				return err
			}
			r.Status, r.ResultHash = pb.DecryptionRequest_STATUS_DONE, c.putBlob(out)
		}
		return nil
	}
	return codeErr{8, "unknown_tx_type " + typ}
}

// request opens a decryption request of the sum of cts under key epoch 1
// for researcher key pub (nil: a public request), with the given active set.
func (c *fakeChain) request(pub []byte, active []uint64, cts ...[]byte) uint64 {
	return c.requestIn(1, pub, active, cts...)
}

// requestIn is request under key epoch epoch. Like the contract, it takes
// active sets from the epoch's members only; tests that need another set
// edit the request afterwards.
func (c *fakeChain) requestIn(epoch uint64, pub []byte, active []uint64, cts ...[]byte) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fe := c.epochs[epoch]; fe == nil || !fe.ep.Ready || slices.ContainsFunc(active, func(m uint64) bool { return !slices.Contains(fe.ep.Members, m) }) {
		c.t.Fatalf("fake chain: no request under key epoch %d with active set %v", epoch, active)
	}
	agg, err := c.p.Add(cts...)
	if err != nil {
		c.t.Fatal(err)
	}
	id := c.nextReq
	c.nextReq++
	r := &pb.DecryptionRequest{
		Id: id, Epoch: epoch, AggregateHash: c.putBlob(agg), Public: pub == nil,
		ActiveSet: active, DeadlineHeight: c.height + c.deadline, Status: pb.DecryptionRequest_STATUS_PENDING, Height: c.height,
	}
	if pub != nil {
		r.TargetKeyHash = c.putBlob(pub)
	}
	c.requests[id] = r
	c.ksShares[id] = map[uint64][]byte{}
	return id
}

// sentOf returns the payloads of type typ that signer sent, in order.
func (c *fakeChain) sentOf(signer, typ string) [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out [][]byte
	for _, s := range c.sent {
		if s.signer == signer && s.typ == typ {
			out = append(out, s.payload)
		}
	}
	return out
}

// publicKey returns epoch 1's collective public key once it is ready.
func (c *fakeChain) publicKey() []byte { return c.publicKeyOf(1) }

// publicKeyOf returns key epoch e's collective public key once it is ready.
func (c *fakeChain) publicKeyOf(e uint64) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fe := c.epochs[e]; fe != nil && fe.ep.Ready {
		return c.blobs[hex.EncodeToString(fe.ep.PublicKeyHash)]
	}
	return nil
}

// sentBy returns every tx signer sent, of any type, in order.
func (c *fakeChain) sentBy(signer string) []sentTx {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []sentTx
	for _, s := range c.sent {
		if s.signer == signer {
			out = append(out, s)
		}
	}
	return out
}
