package gateway

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cometbft/cometbft/libs/log"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node/chainrpc"
	"github.com/medchain/medchain/node/recordcrypto"
	"github.com/medchain/medchain/node/vault"
)

// Codes of the gateway's JSON answers, {"error": "...", "code": "..."}.
// Clients match on the code, never on the message.
const (
	CodeOK             = "ok"
	CodeBadRequest     = "bad_request"     // 400: the body is not a valid fetch request
	CodeTooLarge       = "too_large"       // 413: the body is over MaxRequestBytes
	CodeWrongChain     = "wrong_chain"     // 400: chain_id is not this gateway's chain
	CodeClockSkew      = "clock_skew"      // 401: timestamp more than MaxClockSkew away
	CodeReplayed       = "replayed"        // 409: this doctor already used this nonce
	CodeUnknownDoctor  = "unknown_doctor"  // 401: no account with the doctor's address
	CodeBadSignature   = "bad_signature"   // 401: the signature does not verify
	CodeNotADoctor     = "not_a_doctor"    // 403: the account is not a doctor's
	CodeNoSuchAccess   = "no_such_access"  // 404: no access entry with this id
	CodeNotYourAccess  = "not_your_access" // 403: the entry is another doctor's
	CodeWrongRecord    = "wrong_record"    // 403: the entry is for another record
	CodeOtherCustodian = "other_custodian" // 403: the record is kept by another hospital
	CodeNoSealKey      = "no_seal_key"     // 403: the doctor's account has no seal key
	CodeGone           = "gone"            // 410: the record was erased, or the vault has no copy
	CodeNotFound       = "not_found"       // 404: no such endpoint
	CodeMethod         = "method_not_allowed"
	CodeBusy           = "busy"        // 503: the vault or the replay cache is busy; retry
	CodeUnavailable    = "unavailable" // 503: the gateway cannot read the chain now; retry
	CodeStarting       = "starting"    // 503: the node is still catching up
	CodeInternal       = "internal"    // 500: see the gateway's log
)

// Key sources of a FetchResult.
const (
	KeySourceGrant     = "grant"
	KeySourceCustodian = "custodian"
)

// ServerConfig configures a Server. Every field but Now, MaxSkew and
// MaxNonces is required.
type ServerConfig struct {
	// ChainID and HospitalID identify this gateway: requests must name
	// the chain and be signed for the hospital.
	ChainID, HospitalID string
	// State reads committed chain state.
	State StateReader
	// Vault holds the hospital's ciphertexts and sealed data keys.
	Vault Vault
	// Seal is the hospital's seal key entry (node.SealKeyName): its
	// 32-byte seed is the X25519 key the custodian's data keys are sealed to.
	Seal   ed25519.PrivateKey
	Logger log.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxSkew is the allowed clock skew (default MaxClockSkew).
	MaxSkew time.Duration
	// MaxNonces bounds the replay cache (default 65536 nonces, a few MiB).
	MaxNonces int
}

// Server answers POST /v1/fetch. It is an http.Handler; serve it with
// NewHTTPServer (TLS 1.3).
type Server struct {
	chainID, hospital string
	state             StateReader
	vault             Vault
	sealPriv          [recordcrypto.PrivateKeySize]byte
	log               log.Logger
	now               func() time.Time
	maxSkew           time.Duration
	nonces            *nonceCache
}

var _ http.Handler = (*Server)(nil)

// NewServer checks cfg and returns a Server.
func NewServer(cfg ServerConfig) (*Server, error) {
	switch {
	case checkChainID(cfg.ChainID) != nil:
		return nil, fmt.Errorf("gateway: %w", checkChainID(cfg.ChainID))
	case checkHospitalID(cfg.HospitalID) != nil:
		return nil, fmt.Errorf("gateway: %w", checkHospitalID(cfg.HospitalID))
	case cfg.State == nil || cfg.Vault == nil || cfg.Logger == nil:
		return nil, errors.New("gateway: chain state, vault and logger are required")
	case len(cfg.Seal) != ed25519.PrivateKeySize:
		return nil, errors.New("gateway: the hospital's seal key is required")
	}
	s := &Server{
		chainID: cfg.ChainID, hospital: cfg.HospitalID, state: cfg.State, vault: cfg.Vault,
		log: cfg.Logger, now: cfg.Now, maxSkew: cfg.MaxSkew,
	}
	s.sealPriv, _ = recordcrypto.SealKeyPair([recordcrypto.PrivateKeySize]byte(cfg.Seal.Seed()))
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxSkew <= 0 {
		s.maxSkew = MaxClockSkew
	}
	max := cfg.MaxNonces
	if max <= 0 {
		max = 1 << 16
	}
	s.nonces = newNonceCache(max)
	return s, nil
}

// HospitalID is the hospital this gateway serves.
func (s *Server) HospitalID() string { return s.hospital }

// refusal is a request the gateway does not serve.
type refusal struct {
	status int
	code   string
	msg    string
}

func refuse(status int, code, format string, a ...any) *refusal {
	return &refusal{status: status, code: code, msg: fmt.Sprintf(format, a...)}
}

// fetchResponse is the body of a 200 answer.
type fetchResponse struct {
	Ciphertext  []byte `json:"ciphertext"`
	ContentHash string `json:"content_hash"`
	KeySource   string `json:"key_source"`
	SealedKey   []byte `json:"sealed_key,omitempty"`
}

// errorResponse is the body of every other answer.
type errorResponse struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// ServeHTTP implements http.Handler. Every request is logged once at info
// with its access id, doctor address, status and code: never a key, a
// ciphertext or a signature.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var (
		accessID uint64
		doctor   string
		keySrc   string
	)
	resp, ref := func() (*fetchResponse, *refusal) {
		if r.URL.Path != FetchPath {
			return nil, refuse(http.StatusNotFound, CodeNotFound, "no such endpoint; the gateway answers POST %s", FetchPath)
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			return nil, refuse(http.StatusMethodNotAllowed, CodeMethod, "use POST %s", FetchPath)
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, refuse(http.StatusRequestEntityTooLarge, CodeTooLarge, "%v", ErrBodyTooLarge)
			}
			return nil, refuse(http.StatusBadRequest, CodeBadRequest, "could not read the request body")
		}
		req, err := decodeFetchRequest(body)
		if err != nil {
			return nil, refuse(http.StatusBadRequest, CodeBadRequest, "%v", err)
		}
		accessID, doctor = req.AccessID, req.Doctor
		resp, ref := s.fetch(r.Context(), req)
		if resp != nil {
			keySrc = resp.KeySource
		}
		return resp, ref
	}()
	if ref != nil {
		s.log.Info("gateway fetch refused", "access", accessID, "doctor", doctor, "status", ref.status, "code", ref.code)
		if ref.status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "2")
		}
		writeJSON(w, ref.status, errorResponse{Error: ref.msg, Code: ref.code})
		return
	}
	s.log.Info("gateway fetch served", "access", accessID, "doctor", doctor, "status", http.StatusOK, "key_source", keySrc)
	writeJSON(w, http.StatusOK, resp)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Invariant: both answer types always marshal.
		status, body = http.StatusInternalServerError, []byte(`{"error":"internal error","code":"internal"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// fetch runs the checks, in the order the protocol fixes, on a request
// whose formats are valid.
func (s *Server) fetch(ctx context.Context, req *parsedRequest) (*fetchResponse, *refusal) {
	if req.ChainID != s.chainID {
		return nil, refuse(http.StatusBadRequest, CodeWrongChain, "chain_id is not this gateway's chain %q", s.chainID)
	}
	now := s.now()
	window := int64(s.maxSkew / time.Second)
	if diff := req.Timestamp - now.Unix(); diff > window || diff < -window {
		way := "ahead of"
		if diff < 0 {
			way, diff = "behind", -diff
		}
		return nil, refuse(http.StatusUnauthorized, CodeClockSkew,
			"clock skew: the request's timestamp is %d s %s the gateway's clock, the limit is %s; sign with the current time (check the clock's NTP sync)", diff, way, s.maxSkew)
	}
	nk := nonceKey{doctor: req.Doctor, nonce: req.Nonce}
	if s.nonces.seen(nk, now.Unix()) {
		return nil, refuse(http.StatusConflict, CodeReplayed, "replayed: this nonce was already used; sign a new request with a fresh random nonce")
	}
	acc, err := chainrpc.QueryMessage[pb.Account](ctx, s.state, accountPath(req.Doctor))
	if err != nil {
		return nil, s.chainTrouble(err)
	}
	if acc == nil {
		return nil, refuse(http.StatusUnauthorized, CodeUnknownDoctor, "no account %s on chain", req.Doctor)
	}
	if len(acc.Pubkey) != ed25519.PublicKeySize || pb.AddressOf(acc.Pubkey) != req.Doctor ||
		!ed25519.Verify(acc.Pubkey, SigningBytes(req.FetchRequest, s.hospital), req.signature) {
		return nil, refuse(http.StatusUnauthorized, CodeBadSignature,
			"the signature does not verify with the key of account %s for a request to hospital %q's gateway", req.Doctor, s.hospital)
	}
	if acc.Role != pb.Role_ROLE_DOCTOR {
		return nil, refuse(http.StatusForbidden, CodeNotADoctor, "account %s is a %s, not a doctor", req.Doctor, acc.Role)
	}
	// Recorded only once authenticated, so that nobody but a doctor fills
	// the cache; add refuses a nonce a concurrent twin recorded first.
	expiry := req.Timestamp + window + 1
	if replayed, full := s.nonces.add(nk, expiry, now.Unix()); replayed {
		return nil, refuse(http.StatusConflict, CodeReplayed, "replayed: this nonce was already used; sign a new request with a fresh random nonce")
	} else if full {
		s.log.Error("gateway: the replay cache is full; refusing fetches until nonces expire", "nonces", s.nonces.len())
		return nil, refuse(http.StatusServiceUnavailable, CodeBusy, "the gateway is busy; retry in a few seconds")
	}

	e, err := chainrpc.QueryMessage[pb.AccessEntry](ctx, s.state, accessPath(req.AccessID))
	if err != nil {
		return nil, s.chainTrouble(err)
	}
	switch {
	case e == nil:
		return nil, refuse(http.StatusNotFound, CodeNoSuchAccess, "no access entry %d on chain; request access (access.request) and fetch once it is committed", req.AccessID)
	case e.Doctor != req.Doctor:
		return nil, refuse(http.StatusForbidden, CodeNotYourAccess, "access entry %d was granted to another doctor", req.AccessID)
	case e.RecordId != req.RecordID:
		return nil, refuse(http.StatusForbidden, CodeWrongRecord, "access entry %d is for another record", req.AccessID)
	case e.Custodian != s.hospital:
		return nil, refuse(http.StatusForbidden, CodeOtherCustodian, "access entry %d is for a record kept by hospital %q; fetch it from that hospital's gateway", req.AccessID, e.Custodian)
	}

	rec, err := chainrpc.QueryMessage[pb.Record](ctx, s.state, recordPath(req.recordID))
	if err != nil {
		return nil, s.chainTrouble(err)
	}
	switch {
	case rec == nil:
		return nil, refuse(http.StatusGone, CodeGone, "gone: record %s is not on chain", req.RecordID)
	case rec.Custodian != s.hospital:
		return nil, refuse(http.StatusForbidden, CodeOtherCustodian, "record %s is kept by hospital %q", req.RecordID, rec.Custodian)
	case rec.Erased:
		return nil, refuse(http.StatusGone, CodeGone, "gone: record %s was erased at height %d", req.RecordID, rec.ErasedHeight)
	}

	ct, sealed, err := s.vault.Get(req.recordID[:])
	switch {
	case errors.Is(err, vault.ErrErased) || errors.Is(err, vault.ErrNotFound):
		return nil, refuse(http.StatusGone, CodeGone, "gone: this gateway no longer holds record %s", req.RecordID)
	case errors.Is(err, ErrVaultBusy):
		return nil, refuse(http.StatusServiceUnavailable, CodeBusy, "the vault is busy (an import is running); retry in a few seconds")
	case err != nil:
		s.log.Error("gateway: vault read failed", "access", req.AccessID, "err", err)
		return nil, refuse(http.StatusInternalServerError, CodeInternal, "the gateway could not read its vault; its operator has the details")
	}
	hash := recordcrypto.ContentHash(ct)
	if !bytes.Equal(hash[:], rec.ContentHash) {
		s.log.Error("gateway: the vault's ciphertext does not match the content hash on chain", "access", req.AccessID, "record", req.RecordID)
		return nil, refuse(http.StatusInternalServerError, CodeInternal, "the gateway's copy of the record does not match the chain; its operator has the details")
	}
	resp := &fetchResponse{Ciphertext: ct, ContentHash: hex.EncodeToString(hash[:])}
	switch e.KeySource {
	case pb.KeySource_KEY_SOURCE_GRANT:
		resp.KeySource = KeySourceGrant
	case pb.KeySource_KEY_SOURCE_CUSTODIAN:
		if len(acc.SealPubkey) != recordcrypto.PublicKeySize {
			return nil, refuse(http.StatusForbidden, CodeNoSealKey, "account %s has no seal key to seal the record's key to; its hospital enrols it with one", req.Doctor)
		}
		resealed, err := s.reseal(sealed, req.recordID, acc.SealPubkey)
		if err != nil {
			s.log.Error("gateway: cannot re-seal the custodian's data key", "access", req.AccessID, "err", err)
			return nil, refuse(http.StatusInternalServerError, CodeInternal, "the gateway could not open its copy of the record's key; its operator has the details")
		}
		resp.KeySource, resp.SealedKey = KeySourceCustodian, resealed
	default:
		s.log.Error("gateway: access entry names no key source", "access", req.AccessID, "key_source", e.KeySource.String())
		return nil, refuse(http.StatusInternalServerError, CodeInternal, "access entry %d names no key source the gateway knows", req.AccessID)
	}
	return resp, nil
}

// reseal opens the custodian's sealed data key with the hospital's seal
// key and seals it to the doctor's seal public key. The data key is
// cleared before reseal returns.
func (s *Server) reseal(sealed []byte, rid [32]byte, doctorPub []byte) ([]byte, error) {
	key, err := recordcrypto.OpenKey(sealed, rid[:], s.sealPriv)
	if err != nil {
		return nil, fmt.Errorf("open the custodian's sealed key: %w", err)
	}
	defer clear(key[:])
	return recordcrypto.SealKey(key, rid[:], [recordcrypto.PublicKeySize]byte(doctorPub))
}

// chainTrouble answers a failed chain read (503) and logs it.
func (s *Server) chainTrouble(err error) *refusal {
	s.log.Error("gateway: cannot read the chain", "err", err)
	return refuse(http.StatusServiceUnavailable, CodeUnavailable, "the gateway cannot read the chain right now; retry in a few seconds")
}

// NewHTTPServer returns the http.Server for h: TLS 1.3 only with cert,
// timeouts that bound slow clients, and small headers. Serve it with
// ServeTLS(listener, "", ""). HTTP-level errors (failed handshakes) go
// to logger at debug.
func NewHTTPServer(h http.Handler, cert tls.Certificate, logger log.Logger) *http.Server {
	return &http.Server{
		Handler: h,
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{cert},
		},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// A ciphertext is up to vault.MaxCiphertextSize (16 MiB).
		WriteTimeout:   2 * time.Minute,
		IdleTimeout:    time.Minute,
		MaxHeaderBytes: 8 << 10,
		ErrorLog:       stdlog.New(debugWriter{logger}, "", 0),
	}
}

// debugWriter turns net/http's log lines into debug entries.
type debugWriter struct{ l log.Logger }

func (d debugWriter) Write(p []byte) (int, error) {
	d.l.Debug("gateway http", "msg", strings.TrimSpace(string(p)))
	return len(p), nil
}
