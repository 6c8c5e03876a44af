package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node/recordcrypto"
)

// TestFetchServesTheRecordEndToEnd fetches over real TLS 1.3 and decrypts
// what was served with the key the doctor obtains for each key source.
func TestFetchServesTheRecordEndToEnd(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name           string
		doctorHospital string
		src            pb.KeySource
	}{
		{"a doctor under a grant gets the ciphertext and opens the grant's key copy", ownHospital, pb.KeySource_KEY_SOURCE_GRANT},
		{"a break-glass doctor gets the custodian's key re-sealed to it", ownHospital, pb.KeySource_KEY_SOURCE_CUSTODIAN},
		{"a doctor of another hospital is served its own entry", otherHospital, pb.KeySource_KEY_SOURCE_CUSTODIAN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain := []byte(`{"resourceType":"Bundle","note":"` + tt.name + `"}`)
			rid, key := w.addRecord(ownHospital, plain, true)
			doc := w.addDoctor(tt.doctorHospital)
			id := w.addAccess(doc, rid, ownHospital, tt.src)
			res, err := Fetch(context.Background(), w.request(doc, id, rid))
			if err != nil {
				t.Fatal(err)
			}
			hash := sha256.Sum256(res.Ciphertext)
			if res.ContentHash != hex.EncodeToString(hash[:]) {
				t.Fatalf("content hash %s does not match the ciphertext", res.ContentHash)
			}
			var dataKey [32]byte
			switch tt.src {
			case pb.KeySource_KEY_SOURCE_GRANT:
				if res.KeySource != KeySourceGrant || len(res.SealedKey) != 0 {
					t.Fatalf("key source %q with %d sealed key bytes", res.KeySource, len(res.SealedKey))
				}
				// The grant's copy on chain, sealed to the doctor by the patient.
				grantCopy, err := recordcrypto.SealKey(key, rid[:], doc.sealPub)
				if err != nil {
					t.Fatal(err)
				}
				if dataKey, err = recordcrypto.OpenKey(grantCopy, rid[:], doc.sealKey); err != nil {
					t.Fatal(err)
				}
			default:
				if res.KeySource != KeySourceCustodian {
					t.Fatalf("key source %q", res.KeySource)
				}
				if dataKey, err = recordcrypto.OpenKey(res.SealedKey, rid[:], doc.sealKey); err != nil {
					t.Fatalf("the re-sealed key does not open with the doctor's seal key: %v", err)
				}
			}
			got, err := recordcrypto.DecryptRecord(dataKey, rid[:], res.Ciphertext)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("decrypted %q, want %q", got, plain)
			}
		})
	}
}

// TestFetchRefusals: every bad request gets its status and code, and
// changes nothing.
func TestFetchRefusals(t *testing.T) {
	w := newWorld(t)
	doc := w.addDoctor(ownHospital)
	rid, _ := w.addRecord(ownHospital, []byte("record"), true)
	id := w.addAccess(doc, rid, ownHospital, pb.KeySource_KEY_SOURCE_CUSTODIAN)
	send := func(r FetchRequest) (int, string) {
		return w.post(http.MethodPost, FetchPath, w.signed(doc.sign, ownHospital, r))
	}
	tests := []struct {
		name       string
		do         func() (int, string)
		wantStatus int
		wantCode   string
	}{
		{"a forged signature is refused", func() (int, string) {
			attacker := newPerson(t)
			return w.post(http.MethodPost, FetchPath, w.signed(attacker.sign, ownHospital, w.fields(doc, id, rid)))
		}, http.StatusUnauthorized, CodeBadSignature},
		{"a request signed for another hospital's gateway is refused", func() (int, string) {
			return w.post(http.MethodPost, FetchPath, w.signed(doc.sign, otherHospital, w.fields(doc, id, rid)))
		}, http.StatusUnauthorized, CodeBadSignature},
		{"a replayed request is refused", func() (int, string) {
			body := w.signed(doc.sign, ownHospital, w.fields(doc, id, rid))
			if st, code := w.post(http.MethodPost, FetchPath, body); st != http.StatusOK {
				t.Fatalf("first request: %d %s", st, code)
			}
			return w.post(http.MethodPost, FetchPath, body)
		}, http.StatusConflict, CodeReplayed},
		{"a stale timestamp is refused", func() (int, string) {
			r := w.fields(doc, id, rid)
			r.Timestamp -= 3 * 60
			return send(r)
		}, http.StatusUnauthorized, CodeClockSkew},
		{"a timestamp from the future is refused", func() (int, string) {
			r := w.fields(doc, id, rid)
			r.Timestamp += 3 * 60
			return send(r)
		}, http.StatusUnauthorized, CodeClockSkew},
		{"a wrong chain id is refused", func() (int, string) {
			r := w.fields(doc, id, rid)
			r.ChainID = "other-chain"
			return send(r)
		}, http.StatusBadRequest, CodeWrongChain},
		{"a doctor unknown to the chain is refused", func() (int, string) {
			stranger := newPerson(t)
			return w.post(http.MethodPost, FetchPath, w.signed(stranger.sign, ownHospital, w.fields(stranger, id, rid)))
		}, http.StatusUnauthorized, CodeUnknownDoctor},
		{"an account that is not a doctor's is refused", func() (int, string) {
			p := w.addDoctor(ownHospital)
			w.chain.mu.Lock()
			w.chain.accounts[p.addr].Role = pb.Role_ROLE_PATIENT
			w.chain.mu.Unlock()
			pid := w.addAccess(p, rid, ownHospital, pb.KeySource_KEY_SOURCE_CUSTODIAN)
			return w.post(http.MethodPost, FetchPath, w.signed(p.sign, ownHospital, w.fields(p, pid, rid)))
		}, http.StatusForbidden, CodeNotADoctor},
		{"another doctor's entry is refused", func() (int, string) {
			colleague := w.addDoctor(ownHospital)
			return w.post(http.MethodPost, FetchPath, w.signed(colleague.sign, ownHospital, w.fields(colleague, id, rid)))
		}, http.StatusForbidden, CodeNotYourAccess},
		{"a doctor of another hospital presenting this hospital's doctor's entry is refused", func() (int, string) {
			outsider := w.addDoctor(otherHospital)
			return w.post(http.MethodPost, FetchPath, w.signed(outsider.sign, ownHospital, w.fields(outsider, id, rid)))
		}, http.StatusForbidden, CodeNotYourAccess},
		{"an entry for another record is refused", func() (int, string) {
			other, _ := w.addRecord(ownHospital, []byte("other"), true)
			return send(w.fields(doc, id, other))
		}, http.StatusForbidden, CodeWrongRecord},
		{"an entry for another custodian's record is refused", func() (int, string) {
			theirs, _ := w.addRecord(otherHospital, []byte("theirs"), false)
			tid := w.addAccess(doc, theirs, otherHospital, pb.KeySource_KEY_SOURCE_GRANT)
			return send(w.fields(doc, tid, theirs))
		}, http.StatusForbidden, CodeOtherCustodian},
		{"an access id with no entry is refused", func() (int, string) {
			return send(w.fields(doc, 9999, rid))
		}, http.StatusNotFound, CodeNoSuchAccess},
		{"a record erased on chain is gone", func() (int, string) {
			erased, _ := w.addRecord(ownHospital, []byte("erased"), true)
			eid := w.addAccess(doc, erased, ownHospital, pb.KeySource_KEY_SOURCE_GRANT)
			w.chain.erase(erased)
			return send(w.fields(doc, eid, erased))
		}, http.StatusGone, CodeGone},
		{"a record missing from the vault is gone", func() (int, string) {
			missing, _ := w.addRecord(ownHospital, []byte("missing"), false)
			mid := w.addAccess(doc, missing, ownHospital, pb.KeySource_KEY_SOURCE_GRANT)
			return send(w.fields(doc, mid, missing))
		}, http.StatusGone, CodeGone},
		{"a record already shredded from the vault is gone", func() (int, string) {
			shredded, _ := w.addRecord(ownHospital, []byte("shredded"), true)
			sid := w.addAccess(doc, shredded, ownHospital, pb.KeySource_KEY_SOURCE_GRANT)
			if err := w.vault.Erase(shredded[:]); err != nil {
				t.Fatal(err)
			}
			return send(w.fields(doc, sid, shredded))
		}, http.StatusGone, CodeGone},
		{"a custodian key for a doctor without a seal key is refused", func() (int, string) {
			p := w.addDoctor(ownHospital)
			w.chain.mu.Lock()
			w.chain.accounts[p.addr].SealPubkey = nil
			w.chain.mu.Unlock()
			pid := w.addAccess(p, rid, ownHospital, pb.KeySource_KEY_SOURCE_CUSTODIAN)
			return w.post(http.MethodPost, FetchPath, w.signed(p.sign, ownHospital, w.fields(p, pid, rid)))
		}, http.StatusForbidden, CodeNoSealKey},
		{"an oversize body is refused", func() (int, string) {
			body := w.signed(doc.sign, ownHospital, w.fields(doc, id, rid))
			body = append(body[:len(body)-1], []byte(`,"pad":"`+strings.Repeat("x", MaxRequestBytes)+`"}`)...)
			return w.post(http.MethodPost, FetchPath, body)
		}, http.StatusRequestEntityTooLarge, CodeTooLarge},
		{"an unknown JSON field is refused", func() (int, string) {
			body := w.signed(doc.sign, ownHospital, w.fields(doc, id, rid))
			return w.post(http.MethodPost, FetchPath, append(body[:len(body)-1], []byte(`,"purpose":"treatment"}`)...))
		}, http.StatusBadRequest, CodeBadRequest},
		{"a field name in another case is refused", func() (int, string) {
			body := w.signed(doc.sign, ownHospital, w.fields(doc, id, rid))
			return w.post(http.MethodPost, FetchPath, bytes.Replace(body, []byte(`"nonce"`), []byte(`"Nonce"`), 1))
		}, http.StatusBadRequest, CodeBadRequest},
		{"a body that is not JSON is refused", func() (int, string) {
			return w.post(http.MethodPost, FetchPath, []byte("access_id=1"))
		}, http.StatusBadRequest, CodeBadRequest},
		{"a GET is refused", func() (int, string) {
			return w.post(http.MethodGet, FetchPath, nil)
		}, http.StatusMethodNotAllowed, CodeMethod},
		{"another path is not found", func() (int, string) {
			return w.post(http.MethodPost, "/v1/records", w.signed(doc.sign, ownHospital, w.fields(doc, id, rid)))
		}, http.StatusNotFound, CodeNotFound},
		{"a vault copy that does not match the chain's content hash is not served", func() (int, string) {
			r2, _ := w.addRecord(ownHospital, []byte("tampered"), true)
			w.chain.mu.Lock()
			w.chain.records[hex.EncodeToString(r2[:])].ContentHash = make([]byte, 32)
			w.chain.mu.Unlock()
			tid := w.addAccess(doc, r2, ownHospital, pb.KeySource_KEY_SOURCE_GRANT)
			return send(w.fields(doc, tid, r2))
		}, http.StatusInternalServerError, CodeInternal},
		{"a chain that cannot be read makes the gateway unavailable", func() (int, string) {
			w.chain.mu.Lock()
			w.chain.failQuery = errors.New("connection refused")
			w.chain.mu.Unlock()
			defer func() {
				w.chain.mu.Lock()
				w.chain.failQuery = nil
				w.chain.mu.Unlock()
			}()
			return send(w.fields(doc, id, rid))
		}, http.StatusServiceUnavailable, CodeUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := w.srv.nonces.len()
			status, code := tt.do()
			if status != tt.wantStatus || code != tt.wantCode {
				t.Fatalf("got %d %q, want %d %q", status, code, tt.wantStatus, tt.wantCode)
			}
			// Only a request that authenticated records its nonce.
			switch tt.wantCode {
			case CodeBadSignature, CodeUnknownDoctor, CodeClockSkew, CodeWrongChain, CodeBadRequest, CodeTooLarge, CodeMethod, CodeNotFound, CodeUnavailable:
				if after := w.srv.nonces.len(); after != before {
					t.Fatalf("a refused request recorded a nonce (%d -> %d)", before, after)
				}
			}
		})
	}
	t.Run("a forged request does not use up the doctor's nonce", func(t *testing.T) {
		r := w.fields(doc, id, rid)
		attacker := newPerson(t)
		if st, _ := w.post(http.MethodPost, FetchPath, w.signed(attacker.sign, ownHospital, r)); st != http.StatusUnauthorized {
			t.Fatalf("forged request: %d", st)
		}
		if st, code := send(r); st != http.StatusOK {
			t.Fatalf("the doctor's own request with that nonce: %d %s", st, code)
		}
	})
}

// TestFetchErrorsAreTyped: callers tell "gone" from "denied" with errors.Is.
func TestFetchErrorsAreTyped(t *testing.T) {
	w := newWorld(t)
	doc := w.addDoctor(ownHospital)
	rid, _ := w.addRecord(ownHospital, []byte("record"), true)
	id := w.addAccess(doc, rid, ownHospital, pb.KeySource_KEY_SOURCE_GRANT)
	t.Run("an erased record is ErrGone and not ErrDenied", func(t *testing.T) {
		erased, _ := w.addRecord(ownHospital, []byte("x"), true)
		eid := w.addAccess(doc, erased, ownHospital, pb.KeySource_KEY_SOURCE_GRANT)
		w.chain.erase(erased)
		_, err := Fetch(context.Background(), w.request(doc, eid, erased))
		var se *ServerError
		if !errors.Is(err, ErrGone) || errors.Is(err, ErrDenied) || !errors.As(err, &se) || se.Status != http.StatusGone || se.Code != CodeGone {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("another doctor's entry is ErrDenied and not ErrGone", func(t *testing.T) {
		other := w.addDoctor(ownHospital)
		_, err := Fetch(context.Background(), w.request(other, id, rid))
		if !errors.Is(err, ErrDenied) || errors.Is(err, ErrGone) || !strings.Contains(err.Error(), CodeNotYourAccess) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a wrong chain id is neither", func(t *testing.T) {
		req := w.request(doc, id, rid)
		req.ChainID = "other-chain"
		_, err := Fetch(context.Background(), req)
		var se *ServerError
		if !errors.As(err, &se) || se.Code != CodeWrongChain || errors.Is(err, ErrGone) || errors.Is(err, ErrDenied) {
			t.Fatalf("got %v", err)
		}
	})
}

// TestClientPinsTheCertificate: the client trusts the certificate only by
// its fingerprint, and speaks TLS 1.3 only, as does the server.
func TestClientPinsTheCertificate(t *testing.T) {
	w := newWorld(t)
	doc := w.addDoctor(ownHospital)
	rid, _ := w.addRecord(ownHospital, []byte("record"), true)
	id := w.addAccess(doc, rid, ownHospital, pb.KeySource_KEY_SOURCE_GRANT)
	t.Run("a fingerprint mismatch is refused before the request is sent", func(t *testing.T) {
		req := w.request(doc, id, rid)
		req.CertSHA256 = make([]byte, 32)
		if _, err := rand.Read(req.CertSHA256); err != nil {
			t.Fatal(err)
		}
		before := w.chain.queryCount()
		_, err := Fetch(context.Background(), req)
		if !errors.Is(err, ErrCertMismatch) || !strings.Contains(err.Error(), "does not match the fingerprint published on chain") {
			t.Fatalf("got %v", err)
		}
		if after := w.chain.queryCount(); after != before {
			t.Fatalf("the request reached the server: %d chain reads", after-before)
		}
		if w.srv.nonces.len() != 0 {
			t.Fatal("the server saw the request")
		}
	})
	t.Run("the right fingerprint is served", func(t *testing.T) {
		if _, err := Fetch(context.Background(), w.request(doc, id, rid)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a TLS 1.2 client is refused by the server", func(t *testing.T) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
		}}}
		_, err := c.Post(w.url+FetchPath, "application/json", strings.NewReader("{}"))
		if err == nil || !strings.Contains(err.Error(), "protocol version") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("bad client requests are refused before dialling", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			edit func(*ClientRequest)
			want string
		}{
			{"an http URL", func(r *ClientRequest) { r.URL = strings.Replace(r.URL, "https", "http", 1) }, "https://"},
			{"a short fingerprint", func(r *ClientRequest) { r.CertSHA256 = r.CertSHA256[:31] }, "SHA-256"},
			{"no doctor key", func(r *ClientRequest) { r.Doctor = nil }, "signing key"},
			{"a malformed record id", func(r *ClientRequest) { r.RecordID = "ABC" }, "record_id"},
			{"a zero access id", func(r *ClientRequest) { r.AccessID = 0 }, "access_id"},
			{"no hospital", func(r *ClientRequest) { r.HospitalID = "" }, "hospital id"},
		} {
			req := w.request(doc, id, rid)
			tc.edit(&req)
			before := w.chain.queryCount()
			if _, err := Fetch(context.Background(), req); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s: got %v, want %q", tc.name, err, tc.want)
			}
			if w.chain.queryCount() != before {
				t.Fatalf("%s: the request reached the server", tc.name)
			}
		}
	})
}

// TestServerClock: the skew window is MaxSkew either way, inclusive.
func TestServerClock(t *testing.T) {
	w := newWorld(t)
	doc := w.addDoctor(ownHospital)
	rid, _ := w.addRecord(ownHospital, []byte("record"), true)
	id := w.addAccess(doc, rid, ownHospital, pb.KeySource_KEY_SOURCE_GRANT)
	now := time.Unix(1_900_000_000, 0)
	w.srv.now = func() time.Time { return now }
	for _, tc := range []struct {
		name   string
		offset int64
		want   int
	}{
		{"a request exactly two minutes old is served", -120, http.StatusOK},
		{"a request two minutes ahead is served", 120, http.StatusOK},
		{"a request two minutes and a second old is refused", -121, http.StatusUnauthorized},
		{"a request two minutes and a second ahead is refused", 121, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := w.fields(doc, id, rid)
			r.Timestamp = now.Unix() + tc.offset
			if st, code := w.post(http.MethodPost, FetchPath, w.signed(doc.sign, ownHospital, r)); st != tc.want {
				t.Fatalf("got %d %s, want %d", st, code, tc.want)
			}
		})
	}
}
