package gateway

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/cometbft/cometbft/libs/log"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node/cohort"
	"github.com/medchain/medchain/node/recordcrypto"
	"github.com/medchain/medchain/node/vault"
)

// badMarkVault is a vault whose shredding mark cannot be read.
type badMarkVault struct{ *vault.Vault }

func (badMarkVault) ShreddedThrough() (int64, error) { return 0, vault.ErrBadMark }

func TestShredder(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	keep, _ := w.addRecord(ownHospital, []byte("keep"), true)
	erasedEarly, _ := w.addRecord(ownHospital, []byte("erased while the node was down"), true)
	notOnChain, _ := w.addRecord(ownHospital, []byte("imported, not yet registered"), true)
	w.chain.mu.Lock()
	delete(w.chain.records, hex.EncodeToString(notOnChain[:]))
	w.chain.mu.Unlock()
	w.chain.erase(erasedEarly)

	s, err := NewShredder(w.chain, w.vault, ownHospital, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	gone := func(rid [32]byte) bool {
		_, _, err := w.vault.Get(rid[:])
		return errors.Is(err, vault.ErrErased)
	}
	t.Run("the first step scans the vault and shreds what the chain erased", func(t *testing.T) {
		if err := s.Step(ctx, w.chain.height); err != nil {
			t.Fatal(err)
		}
		if !gone(erasedEarly) || gone(keep) || gone(notOnChain) {
			t.Fatalf("erased early: %v, kept: %v, not on chain: %v", gone(erasedEarly), !gone(keep), !gone(notOnChain))
		}
	})
	t.Run("a later step follows the erasure events of the new blocks", func(t *testing.T) {
		h := w.chain.erase(keep)
		if err := s.Step(ctx, h); err != nil {
			t.Fatal(err)
		}
		if !gone(keep) {
			t.Fatal("the record erased in a new block is still in the vault")
		}
	})
	t.Run("another custodian's erasures are not this vault's", func(t *testing.T) {
		theirs, _ := w.addRecord(otherHospital, []byte("theirs"), false)
		mine, _ := w.addRecord(ownHospital, []byte("mine"), true)
		h := w.chain.erase(theirs)
		if err := s.Step(ctx, h); err != nil {
			t.Fatal(err)
		}
		if gone(mine) {
			t.Fatal("shredded a record nobody erased")
		}
		// The vault never held theirs; no tombstone is written for it.
		if _, _, err := w.vault.Get(theirs[:]); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("another custodian's record: %v", err)
		}
	})
	t.Run("a restarted shredder resumes from the vault's mark, without scanning", func(t *testing.T) {
		// The mark may lag the shredder by less than markEvery blocks.
		marked, err := w.vault.ShreddedThrough()
		if err != nil || marked <= 0 || s.done-marked >= markEvery {
			t.Fatalf("the vault's mark is %d, %v; the shredder reached %d", marked, err, s.done)
		}
		// Erased while "the node was down": only the events tell.
		down, _ := w.addRecord(ownHospital, []byte("erased while restarting"), true)
		h := w.chain.erase(down)
		s2, _ := NewShredder(w.chain, w.vault, ownHospital, log.NewNopLogger())
		queries := w.chain.queryCount()
		if err := s2.Step(ctx, h); err != nil {
			t.Fatal(err)
		}
		if !gone(down) || s2.done != h {
			t.Fatalf("after the restart: shredded %v, done %d (want %d)", gone(down), s2.done, h)
		}
		if q := w.chain.queryCount() - queries; q > 3 {
			t.Fatalf("%d state queries after a restart: the vault was scanned", q)
		}
	})
	t.Run("an unreadable mark is not trusted: the vault is scanned", func(t *testing.T) {
		lost, _ := w.addRecord(ownHospital, []byte("erased while the mark was unreadable"), true)
		h := w.chain.erase(lost)
		s6, _ := NewShredder(w.chain, badMarkVault{w.vault}, ownHospital, log.NewNopLogger())
		if err := s6.Step(ctx, h); err != nil {
			t.Fatal(err)
		}
		if !gone(lost) || s6.done != h {
			t.Fatalf("shredded %v, done %d (want %d)", gone(lost), s6.done, h)
		}
	})
	t.Run("a mark ahead of the chain is not trusted: the vault is scanned", func(t *testing.T) {
		if err := w.vault.SetShreddedThrough(w.chain.height + 1000); err != nil {
			t.Fatal(err)
		}
		ahead, _ := w.addRecord(ownHospital, []byte("erased on the replaced chain"), true)
		h := w.chain.erase(ahead)
		s5, _ := NewShredder(w.chain, w.vault, ownHospital, log.NewNopLogger())
		if err := s5.Step(ctx, h); err != nil {
			t.Fatal(err)
		}
		if !gone(ahead) {
			t.Fatal("the erased record survived: the shredder trusted a mark ahead of the chain")
		}
		if m, _ := w.vault.ShreddedThrough(); m != h {
			t.Fatalf("after the scan the mark is %d, want %d", m, h)
		}
	})
	t.Run("far behind, it follows the events over several steps, without scanning the vault", func(t *testing.T) {
		s4, _ := NewShredder(w.chain, w.vault, ownHospital, log.NewNopLogger())
		if err := s4.Step(ctx, w.chain.height); err != nil {
			t.Fatal(err)
		}
		start := s4.done
		far, _ := w.addRecord(ownHospital, []byte("erased far ahead"), true)
		w.chain.mu.Lock()
		w.chain.height += 2 * maxFollow
		w.chain.mu.Unlock()
		h := w.chain.erase(far)
		queries := w.chain.queryCount()
		if err := s4.Step(ctx, h); err != nil {
			t.Fatal(err)
		}
		if s4.done != start+maxFollow || gone(far) {
			t.Fatalf("after one step: done %d (want %d), shredded early: %v", s4.done, start+maxFollow, gone(far))
		}
		for range 2 {
			if err := s4.Step(ctx, h); err != nil {
				t.Fatal(err)
			}
		}
		if s4.done != h || !gone(far) {
			t.Fatalf("after three steps: done %d (want %d), shredded: %v", s4.done, h, gone(far))
		}
		// One state query per vault record would be a scan; following
		// reads only the erased record's state.
		if q := w.chain.queryCount() - queries; q > 3 {
			t.Fatalf("%d state queries while following: the vault was scanned", q)
		}
	})
	t.Run("without block results it scans at once, then every few blocks", func(t *testing.T) {
		s3, _ := NewShredder(w.chain, w.vault, ownHospital, log.NewNopLogger())
		if err := s3.Step(ctx, w.chain.height); err != nil {
			t.Fatal(err)
		}
		w.chain.mu.Lock()
		w.chain.noResults = true
		w.chain.mu.Unlock()
		late, _ := w.addRecord(ownHospital, []byte("late"), true)
		if err := s3.Step(ctx, w.chain.erase(late)); err != nil {
			t.Fatal(err)
		}
		if !gone(late) {
			t.Fatal("the scan after the failed read did not shred the erased record")
		}
		later, _ := w.addRecord(ownHospital, []byte("later"), true)
		h := w.chain.erase(later)
		if err := s3.Step(ctx, h); err != nil {
			t.Fatal(err)
		}
		if gone(later) {
			t.Fatal("scanned again before rescanEvery blocks")
		}
		if err := s3.Step(ctx, h+rescanEvery); err != nil {
			t.Fatal(err)
		}
		if !gone(later) {
			t.Fatal("the re-scan did not shred the erased record")
		}
	})
}

// newService builds a Service for w's hospital on a fresh listener.
func newService(t *testing.T, w *world, v Vault) *Service {
	t.Helper()
	cert, _, err := LoadCertificate(w.certFile, w.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewService(ServiceConfig{
		ChainID: testChainID, Chain: w.chain, Vault: v, Operator: w.operator, Seal: w.seal,
		Listener: l, Certificate: cert, PublicURL: "https://" + l.Addr().String(), Logger: log.NewNopLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestServiceStartsPublishesAndServes(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	svc := newService(t, w, w.vault)
	w.chain.mu.Lock()
	w.chain.catchingUp = true
	w.chain.mu.Unlock()
	svc.serve() // the test runs the steps itself
	t.Cleanup(svc.Stop)
	w.url = svc.cfg.PublicURL

	doc := w.addDoctor(ownHospital)
	rid, _ := w.addRecord(ownHospital, []byte("record"), true)
	id := w.addAccess(doc, rid, ownHospital, pb.KeySource_KEY_SOURCE_CUSTODIAN)

	t.Run("while the node catches up the gateway answers starting", func(t *testing.T) {
		svc.Step(ctx)
		if st, code := w.post(http.MethodPost, FetchPath, w.signed(doc.sign, ownHospital, w.fields(doc, id, rid))); st != http.StatusServiceUnavailable || code != CodeStarting {
			t.Fatalf("got %d %s", st, code)
		}
		if svc.HospitalID() != "" || len(w.chain.mempool) != 0 {
			t.Fatal("the service acted before the node caught up")
		}
	})
	w.chain.mu.Lock()
	w.chain.catchingUp = false
	w.chain.mu.Unlock()
	t.Run("once caught up it finds its hospital and sends the gateway tx", func(t *testing.T) {
		svc.Step(ctx)
		if svc.HospitalID() != ownHospital {
			t.Fatalf("hospital %q", svc.HospitalID())
		}
		if len(w.chain.mempool) != 1 || w.chain.mempool[0].Body.Type != "hospital.gateway" {
			t.Fatalf("mempool holds %d txs", len(w.chain.mempool))
		}
	})
	t.Run("it does not send the tx again while it is on its way", func(t *testing.T) {
		svc.Step(ctx)
		if len(w.chain.mempool) != 1 {
			t.Fatalf("mempool holds %d txs", len(w.chain.mempool))
		}
	})
	t.Run("once committed the chain holds the URL and fingerprint and nothing more is sent", func(t *testing.T) {
		w.chain.commit()
		svc.Step(ctx)
		svc.Step(ctx)
		g := w.chain.gateways[ownHospital]
		if g == nil || g.Url != svc.cfg.PublicURL || !bytes.Equal(g.CertSha256, w.fp) || len(w.chain.mempool) != 0 {
			t.Fatalf("gateway record %v, mempool %d", g, len(w.chain.mempool))
		}
	})
	t.Run("a client with the published URL and fingerprint is served", func(t *testing.T) {
		g := w.chain.gateways[ownHospital]
		req := w.request(doc, id, rid)
		req.URL, req.CertSHA256 = g.Url, g.CertSha256
		res, err := Fetch(ctx, req)
		if err != nil || res.KeySource != KeySourceCustodian {
			t.Fatalf("%v %v", res, err)
		}
	})
	t.Run("a new URL is published again, past a tx of the operator pending in the mempool", func(t *testing.T) {
		other := newService(t, w, w.vault)
		other.cfg.Listener.Close()
		other.Step(ctx) // finds the hospital; the published URL differs
		if len(w.chain.mempool) != 1 {
			t.Fatalf("mempool holds %d txs", len(w.chain.mempool))
		}
		other.pub.sentAt, other.pub.nonceHint = 0, 0 // as if another process had sent that tx
		w.chain.height += resendAfter
		other.Step(ctx)
		if len(w.chain.mempool) != 2 || w.chain.mempool[1].Body.Nonce != w.chain.mempool[0].Body.Nonce+1 {
			t.Fatalf("mempool holds %d txs", len(w.chain.mempool))
		}
		w.chain.commit()
		other.Step(ctx)
		if g := w.chain.gateways[ownHospital]; g.Url != other.cfg.PublicURL {
			t.Fatalf("published %s", g.Url)
		}
	})
}

func TestServiceNeedsAMemberHospital(t *testing.T) {
	w := newWorld(t)
	w.chain.mu.Lock()
	w.chain.hospitals = w.chain.hospitals[1:]
	w.chain.mu.Unlock()
	svc := newService(t, w, w.vault)
	defer svc.cfg.Listener.Close()
	svc.Step(context.Background())
	if svc.HospitalID() != "" || svc.lastErr["start"] == "" || !strings.Contains(svc.lastErr["start"], "no member hospital") {
		t.Fatalf("hospital %q, error %q", svc.HospitalID(), svc.lastErr["start"])
	}
}

func TestVaultLease(t *testing.T) {
	t.Run("a home without a vault key holds no record and shreds nothing", func(t *testing.T) {
		l := NewVaultLease(t.TempDir(), nil, 0)
		defer l.Close()
		if _, _, err := l.Get(make([]byte, 32)); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("Get: %v", err)
		}
		if ids, err := l.List(); err != nil || len(ids) != 0 {
			t.Fatalf("List: %v %v", ids, err)
		}
		if err := l.Erase(make([]byte, 32)); err != nil {
			t.Fatalf("Erase: %v", err)
		}
	})
	w := newWorld(t)
	rid, _ := w.addRecord(ownHospital, []byte("record"), true)
	w.vault.Close() // the lease opens the vault itself
	l := NewVaultLease(w.home, nil, 0)
	defer l.Close()
	t.Run("it opens the vault for a call and closes it after", func(t *testing.T) {
		if _, _, err := l.Get(rid[:]); err != nil {
			t.Fatal(err)
		}
		v, err := vault.Open(w.home) // would fail if the lease still held it
		if err != nil {
			t.Fatalf("the lease kept the vault open: %v", err)
		}
		t.Run("while another holder has it, calls are ErrVaultBusy", func(t *testing.T) {
			if _, _, err := l.Get(rid[:]); !errors.Is(err, ErrVaultBusy) {
				t.Fatalf("got %v", err)
			}
		})
		v.Close()
	})
	t.Run("a busy vault answers 503 busy", func(t *testing.T) {
		v, err := vault.Open(w.home)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		srv, err := NewServer(ServerConfig{
			ChainID: testChainID, HospitalID: ownHospital, State: w.chain, Vault: l, Seal: w.seal, Logger: log.NewNopLogger(),
		})
		if err != nil {
			t.Fatal(err)
		}
		cert, _, err := LoadCertificate(w.certFile, w.keyFile)
		if err != nil {
			t.Fatal(err)
		}
		w.url = serveTLS(t, srv, cert)
		doc := w.addDoctor(ownHospital)
		id := w.addAccess(doc, rid, ownHospital, pb.KeySource_KEY_SOURCE_GRANT)
		if st, code := w.post(http.MethodPost, FetchPath, w.signed(doc.sign, ownHospital, w.fields(doc, id, rid))); st != http.StatusServiceUnavailable || code != CodeBusy {
			t.Fatalf("got %d %s", st, code)
		}
	})
	t.Run("after Close calls are refused", func(t *testing.T) {
		l.Close()
		if _, err := l.List(); !errors.Is(err, vault.ErrClosed) {
			t.Fatalf("got %v", err)
		}
	})
}

// TestShredderErasesTheFactsOfAPatientWithNothingLeft: the patient-facts
// entries (every generation) go once the last record this hospital keeps
// about the patient is erased, not before; another hospital's records do
// not keep them.
func TestShredderErasesTheFactsOfAPatientWithNothingLeft(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.patient = strings.Repeat("ab", 32)
	first, _ := w.addRecord(ownHospital, []byte("first"), true)
	second, _ := w.addRecord(ownHospital, []byte("second"), true)
	w.addRecord(otherHospital, []byte("kept elsewhere"), false)
	w.patient = ""
	other, _ := w.addRecord(ownHospital, []byte("another patient"), true)
	var facts [][32]byte
	for g := range uint32(2) {
		id := cohort.FactsIDAt(ownHospital, strings.Repeat("ab", 32), g)
		if err := w.vault.Put(id[:], bytes.Repeat([]byte{byte(g)}, 40), make([]byte, recordcrypto.SealedKeySize)); err != nil {
			t.Fatal(err)
		}
		facts = append(facts, id)
	}
	if err := w.vault.Erase(facts[0][:]); err != nil { // generation 0 was superseded
		t.Fatal(err)
	}
	otherFacts := cohort.FactsID(ownHospital, w.chain.records[hex.EncodeToString(other[:])].Pseudonym)
	if err := w.vault.Put(otherFacts[:], bytes.Repeat([]byte{9}, 40), make([]byte, recordcrypto.SealedKeySize)); err != nil {
		t.Fatal(err)
	}
	s, err := NewShredder(w.chain, w.vault, ownHospital, log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Step(ctx, w.chain.height); err != nil {
		t.Fatal(err)
	}
	state := func(id [32]byte) error { _, _, err := w.vault.Get(id[:]); return err }
	t.Run("one record erased of two: the facts stay", func(t *testing.T) {
		if err := s.Step(ctx, w.chain.erase(first)); err != nil {
			t.Fatal(err)
		}
		if err := state(facts[1]); err != nil {
			t.Fatalf("facts after the first erasure: %v", err)
		}
	})
	t.Run("the last record erased: every generation of the facts goes", func(t *testing.T) {
		if err := s.Step(ctx, w.chain.erase(second)); err != nil {
			t.Fatal(err)
		}
		for g, id := range facts {
			if err := state(id); !errors.Is(err, vault.ErrErased) {
				t.Errorf("facts generation %d: %v, want erased", g, err)
			}
		}
	})
	t.Run("another patient's facts stay", func(t *testing.T) {
		if err := state(otherFacts); err != nil {
			t.Fatalf("another patient's facts: %v", err)
		}
	})
}
