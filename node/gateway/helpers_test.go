package gateway

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cometbft/cometbft/libs/log"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
	"github.com/medchain/medchain/node/chainrpc"
	"github.com/medchain/medchain/node/recordcrypto"
	"github.com/medchain/medchain/node/vault"
)

const testChainID = "medchain-test"

// fakeChain is the committed state of a medchain alliance as the gateway
// reads it, a mempool with CheckTx's nonce rule, and blocks the test
// commits explicitly.
type fakeChain struct {
	mu         sync.Mutex
	t          testing.TB
	height     int64
	catchingUp bool
	accounts   map[string]*pb.Account
	hospitals  []*pb.Hospital
	accesses   map[uint64]*pb.AccessEntry
	records    map[string]*pb.Record
	gateways   map[string]*pb.Gateway
	erasures   []erasureEvent
	mempool    []*tx.Decoded
	nextAccess uint64

	queries   int   // Query calls so far
	failQuery error // if set, every Query fails with it
	noResults bool  // Erasures fails: the node discards block results
}

type erasureEvent struct {
	chainrpc.Erasure
	custodian string
}

func newFakeChain(t testing.TB) *fakeChain {
	return &fakeChain{
		t: t, height: 1, accounts: map[string]*pb.Account{}, accesses: map[uint64]*pb.AccessEntry{},
		records: map[string]*pb.Record{}, gateways: map[string]*pb.Gateway{}, nextAccess: 1,
	}
}

func (c *fakeChain) marshal(m proto.Message) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

func (c *fakeChain) Query(_ context.Context, path string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queries++
	if c.failQuery != nil {
		return nil, c.failQuery
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var m proto.Message
	switch {
	case path == hospitalsPath:
		m = &pb.HospitalList{Hospitals: c.hospitals}
	case len(parts) == 2 && parts[0] == "account":
		if a := c.accounts[parts[1]]; a != nil {
			m = a
		}
	case len(parts) == 3 && parts[0] == "records" && parts[1] == "access":
		id, err := strconv.ParseUint(parts[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s refused: bad access id", path)
		}
		if e := c.accesses[id]; e != nil {
			m = e
		}
	case len(parts) == 3 && parts[0] == "records" && parts[1] == "record":
		if r := c.records[parts[2]]; r != nil {
			m = r
		}
	case len(parts) == 4 && parts[0] == "records" && parts[1] == "patient" && parts[3] == "records":
		var l pb.RecordList
		ids := make([]string, 0, len(c.records))
		for id := range c.records {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			if r := c.records[id]; r.Pseudonym == parts[2] {
				l.Records = append(l.Records, r)
			}
		}
		if len(l.Records) > 0 {
			m = &l
		}
	case len(parts) == 3 && parts[0] == "records" && parts[1] == "gateway":
		if g := c.gateways[parts[2]]; g != nil {
			m = g
		}
	default:
		return nil, fmt.Errorf("query %s refused: the fake chain does not know this path", path)
	}
	if m == nil {
		return nil, nil
	}
	return c.marshal(m), nil
}

func (c *fakeChain) Status(context.Context) (chainrpc.Status, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return chainrpc.Status{ChainID: testChainID, Height: c.height, CatchingUp: c.catchingUp}, nil
}

func (c *fakeChain) AppHeight(context.Context) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.height, nil
}

// Broadcast runs CheckTx's checks: decoding, chain id, signature and the
// nonce against the account sequence plus the txs pending in the mempool.
func (c *fakeChain) Broadcast(_ context.Context, raw []byte) (chainrpc.Broadcast, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, err := tx.Decode(raw, 1<<20)
	if err != nil {
		return chainrpc.Broadcast{Code: 1, Log: err.Error()}, nil
	}
	acc := c.accounts[d.Body.Signer]
	if acc == nil || d.Body.ChainId != testChainID || d.Verify(acc.Pubkey) != nil {
		return chainrpc.Broadcast{Code: 1, Log: "unknown signer, wrong chain or bad signature"}, nil
	}
	expected := acc.Sequence
	for _, p := range c.mempool {
		if p.Body.Signer == d.Body.Signer {
			expected++
		}
	}
	switch {
	case d.Body.Nonce < expected:
		return chainrpc.Broadcast{Code: codeNonceReplayed, Log: "nonce replayed"}, nil
	case d.Body.Nonce > expected:
		return chainrpc.Broadcast{Code: codeNonceSkipped, Log: "nonce skipped"}, nil
	}
	c.mempool = append(c.mempool, d)
	return chainrpc.Broadcast{}, nil
}

// commit makes a block of the mempool: "hospital.gateway" txs set their
// hospital's gateway record.
func (c *fakeChain) commit() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.height++
	for _, d := range c.mempool {
		acc := c.accounts[d.Body.Signer]
		acc.Sequence++
		if d.Body.Type != records.TypeSetGateway {
			c.t.Fatalf("fake chain: unexpected tx type %s", d.Body.Type)
		}
		var m pb.SetGateway
		if err := tx.Unmarshal(d.Body.Payload, &m); err != nil {
			c.t.Fatal(err)
		}
		for _, h := range c.hospitals {
			if h.Operator == acc.Address {
				c.gateways[h.Id] = &pb.Gateway{Hospital: h.Id, Url: m.Url, CertSha256: m.CertSha256, Height: c.height}
			}
		}
	}
	c.mempool = nil
}

func (c *fakeChain) Erasures(_ context.Context, custodian string, from, to int64) ([]chainrpc.Erasure, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.noResults {
		return nil, errors.New("could not find results for height")
	}
	var out []chainrpc.Erasure
	for _, e := range c.erasures {
		if e.custodian == custodian && e.Height >= from && e.Height <= to {
			out = append(out, e.Erasure)
		}
	}
	return out, nil
}

// erase erases a record on chain in a new block.
func (c *fakeChain) erase(rid [32]byte) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.height++
	r := c.records[hex.EncodeToString(rid[:])]
	r.Erased, r.ErasedHeight, r.SealedKeyCustodian, r.SealedKeyPatient = true, c.height, nil, nil
	c.erasures = append(c.erasures, erasureEvent{chainrpc.Erasure{RecordID: r.Id, Height: c.height}, r.Custodian})
	return c.height
}

func (c *fakeChain) queryCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queries
}

// person is an account holder with a signing key and a seal key.
type person struct {
	sign    ed25519.PrivateKey
	addr    string
	sealKey [32]byte
	sealPub [32]byte
}

func newPerson(t testing.TB) *person {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, seal, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := &person{sign: priv, addr: pb.AddressOf(priv.Public().(ed25519.PublicKey))}
	p.sealKey, p.sealPub = recordcrypto.SealKeyPair([32]byte(seal.Seed()))
	return p
}

// world is one custodian hospital ("h1") serving its gateway over real
// TLS on 127.0.0.1, with a real vault, next to a second member ("h2"), on
// a fake chain.
type world struct {
	t        *testing.T
	chain    *fakeChain
	vault    *vault.Vault
	home     string
	operator ed25519.PrivateKey
	seal     ed25519.PrivateKey // the hospital's seal key entry
	sealPub  [32]byte
	srv      *Server
	url      string
	certFile string
	keyFile  string
	fp       []byte
	now      time.Time
	// patient, if set, is the pseudonym addRecord gives new records;
	// empty, each record is about a patient of its own.
	patient string
}

const (
	ownHospital   = "h1"
	otherHospital = "h2"
)

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, chain: newFakeChain(t), home: t.TempDir(), now: time.Now()}
	var err error
	if _, w.operator, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	if _, w.seal, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	_, w.sealPub = recordcrypto.SealKeyPair([32]byte(w.seal.Seed()))
	opAddr := pb.AddressOf(w.operator.Public().(ed25519.PublicKey))
	other := newPerson(t)
	w.chain.hospitals = []*pb.Hospital{
		{Id: ownHospital, Operator: opAddr, MemberIndex: 1, SealPubkey: w.sealPub[:]},
		{Id: otherHospital, Operator: other.addr, MemberIndex: 2, SealPubkey: other.sealPub[:]},
	}
	w.chain.accounts[opAddr] = &pb.Account{Address: opAddr, Pubkey: w.operator.Public().(ed25519.PublicKey), Role: pb.Role_ROLE_OPERATOR, Hospital: ownHospital}
	if err := vault.EnsureKeys(w.home); err != nil {
		t.Fatal(err)
	}
	if w.vault, err = vault.Open(w.home); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.vault.Close() })
	w.certFile, w.keyFile = filepath.Join(w.home, "gateway_cert.pem"), filepath.Join(w.home, "gateway_key.pem")
	if _, err := EnsureCert(w.certFile, w.keyFile, []string{"127.0.0.1", "localhost"}); err != nil {
		t.Fatal(err)
	}
	cert, fp, err := LoadCertificate(w.certFile, w.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	w.fp = fp
	w.srv, err = NewServer(ServerConfig{
		ChainID: testChainID, HospitalID: ownHospital, State: w.chain, Vault: w.vault, Seal: w.seal,
		Logger: log.NewNopLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	w.url = serveTLS(t, w.srv, cert)
	return w
}

// serveTLS serves h with NewHTTPServer on a free 127.0.0.1 port.
func serveTLS(t *testing.T, h http.Handler, cert tls.Certificate) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := NewHTTPServer(h, cert, log.NewNopLogger())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hs.ServeTLS(l, "", "")
	}()
	t.Cleanup(func() {
		_ = hs.Close()
		<-done
	})
	return "https://" + l.Addr().String()
}

// addDoctor enrols a doctor of hospital.
func (w *world) addDoctor(hospital string) *person {
	p := newPerson(w.t)
	w.chain.mu.Lock()
	defer w.chain.mu.Unlock()
	w.chain.accounts[p.addr] = &pb.Account{
		Address: p.addr, Pubkey: p.sign.Public().(ed25519.PublicKey), Role: pb.Role_ROLE_DOCTOR,
		Hospital: hospital, SealPubkey: p.sealPub[:],
	}
	return p
}

// addRecord encrypts plaintext under a fresh data key, stores it in the
// vault when inVault, and registers it on chain for custodian.
func (w *world) addRecord(custodian string, plaintext []byte, inVault bool) (rid [32]byte, key [32]byte) {
	w.t.Helper()
	if _, err := rand.Read(rid[:]); err != nil {
		w.t.Fatal(err)
	}
	key, err := recordcrypto.NewDataKey()
	if err != nil {
		w.t.Fatal(err)
	}
	ct, err := recordcrypto.EncryptRecord(key, rid[:], plaintext)
	if err != nil {
		w.t.Fatal(err)
	}
	sealed, err := recordcrypto.SealKey(key, rid[:], w.sealPub)
	if err != nil {
		w.t.Fatal(err)
	}
	if inVault {
		if err := w.vault.Put(rid[:], ct, sealed); err != nil {
			w.t.Fatal(err)
		}
	}
	hash := sha256.Sum256(ct)
	w.chain.mu.Lock()
	defer w.chain.mu.Unlock()
	id := hex.EncodeToString(rid[:])
	pseudonym := w.patient
	if pseudonym == "" {
		h := sha256.Sum256([]byte("patient of " + id)) // a patient of its own
		pseudonym = hex.EncodeToString(h[:])
	}
	w.chain.records[id] = &pb.Record{
		Id: id, Pseudonym: pseudonym, Custodian: custodian, ContentHash: hash[:], Size: uint64(len(ct)),
		SealedKeyCustodian: sealed, Height: w.chain.height,
	}
	return rid, key
}

// addAccess records an access entry of doc to rid.
func (w *world) addAccess(doc *person, rid [32]byte, custodian string, src pb.KeySource) uint64 {
	w.chain.mu.Lock()
	defer w.chain.mu.Unlock()
	id := w.chain.nextAccess
	w.chain.nextAccess++
	doctorHospital := ""
	if a := w.chain.accounts[doc.addr]; a != nil {
		doctorHospital = a.Hospital
	}
	w.chain.accesses[id] = &pb.AccessEntry{
		Id: id, Doctor: doc.addr, DoctorHospital: doctorHospital, RecordId: hex.EncodeToString(rid[:]),
		Custodian: custodian, KeySource: src, Height: w.chain.height, Grant: 1,
	}
	return id
}

// request is the ClientRequest of doc for access id to rid at this gateway.
func (w *world) request(doc *person, id uint64, rid [32]byte) ClientRequest {
	return ClientRequest{
		URL: w.url, CertSHA256: w.fp, HospitalID: ownHospital, ChainID: testChainID,
		AccessID: id, RecordID: hex.EncodeToString(rid[:]), Doctor: doc.sign,
	}
}

// signed builds the JSON body of a fetch request, signed by signer for
// hospital, after edit changes its fields.
func (w *world) signed(signer ed25519.PrivateKey, hospital string, r FetchRequest) []byte {
	w.t.Helper()
	r.Signature = ""
	sig := ed25519.Sign(signer, SigningBytes(r, hospital))
	return fetchJSON(r, sig)
}

func fetchJSON(r FetchRequest, sig []byte) []byte {
	return fmt.Appendf(nil, `{"chain_id":%q,"access_id":%d,"record_id":%q,"doctor":%q,"timestamp":%d,"nonce":%q,"signature":%q}`,
		r.ChainID, r.AccessID, r.RecordID, r.Doctor, r.Timestamp, r.Nonce, b64(sig))
}

// fields is a valid unsigned request of doc.
func (w *world) fields(doc *person, id uint64, rid [32]byte) FetchRequest {
	var n [NonceSize]byte
	if _, err := rand.Read(n[:]); err != nil {
		w.t.Fatal(err)
	}
	return FetchRequest{
		ChainID: testChainID, AccessID: id, RecordID: hex.EncodeToString(rid[:]), Doctor: doc.addr,
		Timestamp: time.Now().Unix(), Nonce: formatNonce(n),
	}
}

// post sends body to the gateway over pinned TLS 1.3 and returns the
// status and the answer's code.
func (w *world) post(method, path string, body []byte) (int, string) {
	w.t.Helper()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion: tls.VersionTLS13, InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if got := sha256.Sum256(cs.PeerCertificates[0].Raw); !bytes.Equal(got[:], w.fp) {
				return ErrCertMismatch
			}
			return nil
		},
	}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequest(method, w.url+path, bytes.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	res, err := hc.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusOK {
		return res.StatusCode, CodeOK
	}
	se := readServerError(&http.Response{StatusCode: res.StatusCode, Body: io.NopCloser(bytes.NewReader(raw))}).(*ServerError)
	return res.StatusCode, se.Code
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
