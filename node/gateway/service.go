package gateway

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cometbft/cometbft/libs/log"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node/recordcrypto"
)

// ServiceConfig configures a Service. Every field but Wake and Poll is
// required.
type ServiceConfig struct {
	ChainID string
	Chain   Chain
	Vault   Vault
	// Operator signs the "hospital.gateway" tx and identifies the
	// hospital on chain; Seal opens the custodian's data keys.
	Operator, Seal ed25519.PrivateKey
	// Listener is where the gateway serves (bound by the caller, so that a
	// port in use is an error before the node starts).
	Listener    net.Listener
	Certificate tls.Certificate
	// PublicURL is the https:// address published on chain.
	PublicURL string
	Logger    log.Logger
	// Wake receives a value after each new block; the service also checks
	// every Poll (default 2 s).
	Wake <-chan struct{}
	Poll time.Duration
}

// Service is the gateway as `medchain start` runs it: it listens at once
// but answers 503 "starting" until the node has caught up and the chain
// names this home's hospital; then it serves fetches (Server), publishes
// the gateway's URL and certificate fingerprint on chain if they differ
// from the published ones, and runs the Shredder after every block.
type Service struct {
	cfg     ServiceConfig
	fp      []byte
	addr    string
	sealPub [32]byte

	server   atomic.Pointer[Server]
	http     *http.Server
	shredder *Shredder
	pub      *publisher
	lastErr  map[string]string

	cancel context.CancelFunc
	done   chan struct{}
	served chan struct{}
	stop   sync.Once
}

// NewService checks cfg and returns a Service (not started).
func NewService(cfg ServiceConfig) (*Service, error) {
	switch {
	case checkChainID(cfg.ChainID) != nil:
		return nil, fmt.Errorf("gateway: %w", checkChainID(cfg.ChainID))
	case cfg.Chain == nil || cfg.Vault == nil || cfg.Logger == nil || cfg.Listener == nil:
		return nil, errors.New("gateway: chain, vault, logger and listener are required")
	case len(cfg.Operator) != ed25519.PrivateKeySize || len(cfg.Seal) != ed25519.PrivateKeySize:
		return nil, errors.New("gateway: the operator and seal keys are required")
	case len(cfg.Certificate.Certificate) == 0:
		return nil, errors.New("gateway: a TLS certificate is required")
	}
	if err := CheckPublicURL(cfg.PublicURL); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 2 * time.Second
	}
	fp := sha256.Sum256(cfg.Certificate.Certificate[0])
	s := &Service{
		cfg: cfg, fp: fp[:], addr: pb.AddressOf(cfg.Operator.Public().(ed25519.PublicKey)),
		lastErr: map[string]string{},
	}
	_, s.sealPub = recordcrypto.SealKeyPair([32]byte(cfg.Seal.Seed()))
	s.http = NewHTTPServer(s, cfg.Certificate, cfg.Logger)
	return s, nil
}

// CheckPublicURL checks a gateway URL the way the chain does
// ("hospital.gateway"): https://, a host, no user, query or fragment, at
// most 256 bytes of plain ASCII.
func CheckPublicURL(s string) error {
	if len(s) > 256 {
		return fmt.Errorf("public url is %d bytes, the limit is 256", len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || bytes.IndexByte([]byte("\"'<>\\`{}|^"), c) >= 0 {
			return fmt.Errorf("public url %q: character %q is not allowed", cut(s, 80), c)
		}
	}
	return checkGatewayURL(s)
}

// Fingerprint is the SHA-256 of the certificate the service serves.
func (s *Service) Fingerprint() []byte { return bytes.Clone(s.fp) }

// HospitalID is the hospital the service serves for, "" until it knows.
func (s *Service) HospitalID() string {
	if srv := s.server.Load(); srv != nil {
		return srv.HospitalID()
	}
	return ""
}

// ServeHTTP answers 503 "starting" until the service knows its hospital.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if srv := s.server.Load(); srv != nil {
		srv.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Retry-After", "2")
	writeJSON(w, http.StatusServiceUnavailable, errorResponse{
		Error: "the gateway is starting: its node is catching up with the chain; retry shortly", Code: CodeStarting,
	})
}

// Start serves on the listener and runs the chain duties in their own
// goroutines until Stop.
func (s *Service) Start() {
	s.serve()
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		tick := time.NewTicker(s.cfg.Poll)
		defer tick.Stop()
		for {
			s.Step(ctx)
			select {
			case <-ctx.Done():
				return
			case <-s.cfg.Wake:
			case <-tick.C:
			}
		}
	}()
}

// serve serves HTTPS on the listener in its own goroutine.
func (s *Service) serve() {
	s.served = make(chan struct{})
	s.cfg.Logger.Info("gateway listening", "addr", s.cfg.Listener.Addr().String(), "public_url", s.cfg.PublicURL,
		"cert_sha256", hex.EncodeToString(s.fp))
	go func() {
		defer close(s.served)
		if err := s.http.ServeTLS(s.cfg.Listener, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("gateway stopped serving", "err", err)
		}
	}()
}

// Stop stops the duties, then lets running fetches finish (up to 5 s) and
// closes the listener.
func (s *Service) Stop() {
	s.stop.Do(func() {
		if s.cancel != nil {
			s.cancel()
			<-s.done
		}
		if s.served == nil {
			_ = s.cfg.Listener.Close()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.http.Shutdown(ctx); err != nil {
			_ = s.http.Close()
		}
		<-s.served
		s.cfg.Logger.Info("gateway stopped")
	})
}

// Step runs the duties once against the latest committed state: find the
// hospital (once), publish, shred. The service's goroutine calls it after
// each block; tests call it directly. Not safe for concurrent use.
func (s *Service) Step(ctx context.Context) {
	defer func() {
		// A bug here must not take the validator down with it.
		if r := recover(); r != nil {
			s.cfg.Logger.Error("gateway bug (panic); retrying on a later block", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	st, err := s.cfg.Chain.Status(ctx)
	var h int64 // the app's committed height: the height queries answer at
	if err == nil {
		h, err = s.cfg.Chain.AppHeight(ctx)
	}
	if s.report(ctx, "status", err) || st.CatchingUp || h == 0 {
		return
	}
	if s.server.Load() == nil {
		if s.report(ctx, "start", s.begin(ctx)) {
			return
		}
	}
	s.report(ctx, "publish", s.pub.step(ctx, h))
	s.report(ctx, "shred", s.shredder.Step(ctx, h))
}

// begin finds this home's hospital on chain and starts serving for it.
func (s *Service) begin(ctx context.Context) error {
	hosp, err := hospitalOf(ctx, s.cfg.Chain, s.addr)
	if err != nil {
		return fmt.Errorf("gateway: operator %s: %w", s.addr, err)
	}
	if !bytes.Equal(hosp.SealPubkey, s.sealPub[:]) {
		s.cfg.Logger.Error("gateway: the seal key on chain is not this home's seal key; break-glass fetches will fail",
			"hospital", hosp.Id)
	}
	srv, err := NewServer(ServerConfig{
		ChainID: s.cfg.ChainID, HospitalID: hosp.Id, State: s.cfg.Chain, Vault: s.cfg.Vault,
		Seal: s.cfg.Seal, Logger: s.cfg.Logger,
	})
	if err != nil {
		return err
	}
	if s.shredder, err = NewShredder(s.cfg.Chain, s.cfg.Vault, hosp.Id, s.cfg.Logger); err != nil {
		return err
	}
	s.pub = &publisher{
		chain: s.cfg.Chain, chainID: s.cfg.ChainID, operator: s.cfg.Operator, addr: s.addr,
		hospital: hosp.Id, url: s.cfg.PublicURL, fp: s.fp, log: s.cfg.Logger,
	}
	s.server.Store(srv)
	s.cfg.Logger.Info("gateway serving", "hospital", hosp.Id)
	return nil
}

// report logs a duty's error once per distinct message (then at debug,
// so a lasting problem does not flood the log) and says whether it failed.
func (s *Service) report(ctx context.Context, duty string, err error) bool {
	if err == nil {
		delete(s.lastErr, duty)
		return false
	}
	if ctx.Err() != nil {
		return true
	}
	if s.lastErr[duty] == err.Error() {
		s.cfg.Logger.Debug("gateway duty still failing", "duty", duty, "err", err)
		return true
	}
	s.lastErr[duty] = err.Error()
	s.cfg.Logger.Error("gateway duty failed; will retry", "duty", duty, "err", err)
	return true
}
