package gateway

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node/recordcrypto"
	"github.com/medchain/medchain/node/vault"
)

// ClientRequest is one fetch from a custodian's gateway. URL and
// CertSHA256 come from the custodian's on-chain Gateway record
// (/records/gateway/<hospital>); the rest from the committed access entry.
type ClientRequest struct {
	// URL is the gateway's https://host:port (a path prefix is kept).
	URL string
	// CertSHA256 is the pinned SHA-256 of the gateway certificate's DER.
	CertSHA256 []byte
	// HospitalID is the custodian's id; the signature is bound to it.
	HospitalID string
	ChainID    string
	AccessID   uint64
	RecordID   string
	// Doctor signs the request; its account is the access entry's doctor.
	Doctor ed25519.PrivateKey
}

// FetchResult is what a gateway served.
type FetchResult struct {
	Ciphertext []byte
	// ContentHash is the lowercase hex SHA-256 of Ciphertext (checked);
	// compare it with the record's content_hash on chain.
	ContentHash string
	// KeySource is KeySourceGrant (the data key is the grant's copy on
	// chain, /records/grantkey/<record>/<grant>) or KeySourceCustodian
	// (SealedKey holds the data key sealed to the doctor's seal key).
	KeySource string
	SealedKey []byte
}

// ServerError is a refusal from the gateway: its HTTP status and code
// (one of the Code constants) and message. errors.Is(err, ErrGone) tells
// a record that is gone for good from one that is denied (ErrDenied) or
// unavailable for now (ErrUnavailable).
type ServerError struct {
	Status  int
	Code    string
	Message string
}

func (e *ServerError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("gateway answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("gateway refused the fetch: %d %s: %s", e.Status, e.Code, e.Message)
}

// Is matches ErrGone (410), ErrDenied (401, 403, 404, 409) and
// ErrUnavailable (503).
func (e *ServerError) Is(target error) bool {
	switch target {
	case ErrGone:
		return e.Status == http.StatusGone
	case ErrDenied:
		switch e.Status {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusConflict:
			return true
		}
	case ErrUnavailable:
		return e.Status == http.StatusServiceUnavailable
	}
	return false
}

var (
	// ErrGone: the record was erased or the custodian no longer holds it.
	ErrGone = errors.New("record gone")
	// ErrDenied: the gateway refused this doctor this read.
	ErrDenied = errors.New("fetch denied")
	// ErrUnavailable: the gateway cannot serve now; retry later.
	ErrUnavailable = errors.New("gateway unavailable")
	// ErrCertMismatch: the server's certificate is not the one on chain;
	// Fetch sent nothing.
	ErrCertMismatch = errors.New("gateway certificate does not match the fingerprint published on chain")
)

// clientTimeout bounds a whole fetch when ctx has no earlier deadline.
const clientTimeout = 3 * time.Minute

// maxResponseBytes bounds a 200 answer: the base64 of the largest
// ciphertext a vault holds, plus room for the other fields.
const maxResponseBytes = vault.MaxCiphertextSize/3*4 + 64<<10

// maxErrorBytes bounds any other answer.
const maxErrorBytes = 64 << 10

// Fetch signs a fetch request for req.AccessID with req.Doctor, sends it
// to the gateway over TLS 1.3, and returns what the gateway served. The
// server is authenticated only by pinning: its leaf certificate's SHA-256
// must equal req.CertSHA256, or the connection is dropped during the
// handshake, before any request byte is sent (ErrCertMismatch). A refusal
// is a *ServerError.
func Fetch(ctx context.Context, req ClientRequest) (*FetchResult, error) {
	endpoint, err := checkClientRequest(req)
	if err != nil {
		return nil, err
	}
	fr := FetchRequest{
		ChainID: req.ChainID, AccessID: req.AccessID, RecordID: req.RecordID,
		Doctor: pb.AddressOf(req.Doctor.Public().(ed25519.PublicKey)), Timestamp: time.Now().Unix(),
	}
	var nonce [NonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("gateway fetch: nonce: %w", err)
	}
	fr.Nonce = formatNonce(nonce)
	// Check the fields before signing them (a placeholder signature, of
	// the right size, stands in for the real one meanwhile).
	fr.Signature = base64.StdEncoding.EncodeToString(make([]byte, ed25519.SignatureSize))
	if err := fr.Validate(); err != nil {
		return nil, fmt.Errorf("gateway fetch: %w", err)
	}
	fr.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(req.Doctor, SigningBytes(fr, req.HospitalID)))
	body, err := json.Marshal(fr)
	if err != nil {
		return nil, fmt.Errorf("gateway fetch: %w", err)
	}

	pin := bytes.Clone(req.CertSHA256)
	tr := &http.Transport{
		Proxy: nil, // a gateway is dialled directly
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS13,
			// No CA, no host name check: the certificate is trusted only
			// because its fingerprint is the one on chain (VerifyConnection).
			InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return ErrCertMismatch
				}
				got := sha256.Sum256(cs.PeerCertificates[0].Raw)
				if subtle.ConstantTimeCompare(got[:], pin) != 1 {
					return ErrCertMismatch
				}
				return nil
			},
		},
		TLSHandshakeTimeout:    15 * time.Second,
		ResponseHeaderTimeout:  time.Minute,
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 16 << 10,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{
		Transport: tr,
		Timeout:   clientTimeout,
		// A gateway never redirects; a redirect is answered as a refusal.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("gateway fetch: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	res, err := hc.Do(hr)
	if err != nil {
		if errors.Is(err, ErrCertMismatch) {
			return nil, fmt.Errorf("gateway %s: %w; nothing was sent (was the certificate replaced without publishing it?)", req.URL, ErrCertMismatch)
		}
		return nil, fmt.Errorf("gateway %s: %w", req.URL, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, readServerError(res)
	}
	return readResult(res.Body)
}

// checkClientRequest checks req and returns the fetch endpoint's URL.
func checkClientRequest(req ClientRequest) (string, error) {
	if err := checkGatewayURL(req.URL); err != nil {
		return "", err
	}
	if len(req.CertSHA256) != sha256.Size {
		return "", fmt.Errorf("gateway certificate fingerprint is %d bytes, want the %d-byte SHA-256 published on chain", len(req.CertSHA256), sha256.Size)
	}
	if err := checkHospitalID(req.HospitalID); err != nil {
		return "", fmt.Errorf("gateway fetch: %w", err)
	}
	if len(req.Doctor) != ed25519.PrivateKeySize {
		return "", errors.New("gateway fetch: the doctor's signing key is required")
	}
	return strings.TrimSuffix(req.URL, "/") + FetchPath, nil
}

// checkGatewayURL accepts https://host[:port][/path], without user, query
// or fragment.
func checkGatewayURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Hostname() == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" {
		return fmt.Errorf("gateway url %q: want https://host:port (no user, query or fragment)", cut(s, 80))
	}
	return nil
}

func readServerError(res *http.Response) error {
	se := &ServerError{Status: res.StatusCode}
	raw, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBytes))
	var e errorResponse
	if json.Unmarshal(raw, &e) == nil && e.Code != "" {
		se.Code, se.Message = e.Code, e.Error
	}
	return se
}

func readResult(body io.Reader) (*FetchResult, error) {
	raw, err := io.ReadAll(io.LimitReader(body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("gateway answer: %w", err)
	}
	if len(raw) > maxResponseBytes {
		return nil, fmt.Errorf("gateway answer is larger than %d bytes", maxResponseBytes)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	var r fetchResponse
	if err := d.Decode(&r); err != nil {
		return nil, fmt.Errorf("gateway answer is not a fetch result: %s", jsonProblem(err))
	}
	hash := sha256.Sum256(r.Ciphertext)
	if len(r.Ciphertext) < recordcrypto.RecordOverhead || r.ContentHash != hex.EncodeToString(hash[:]) {
		return nil, errors.New("gateway answer: the ciphertext does not match its content_hash")
	}
	switch r.KeySource {
	case KeySourceGrant:
		if len(r.SealedKey) != 0 {
			return nil, errors.New("gateway answer: a sealed key came with key source grant")
		}
	case KeySourceCustodian:
		if len(r.SealedKey) != recordcrypto.SealedKeySize {
			return nil, fmt.Errorf("gateway answer: sealed key is %d bytes, want %d", len(r.SealedKey), recordcrypto.SealedKeySize)
		}
	default:
		return nil, fmt.Errorf("gateway answer: unknown key source %q", cut(r.KeySource, 32))
	}
	return &FetchResult{Ciphertext: r.Ciphertext, ContentHash: r.ContentHash, KeySource: r.KeySource, SealedKey: r.SealedKey}, nil
}
