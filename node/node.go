package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	"github.com/cometbft/cometbft/abci/example/kvstore"
	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmtcfg "github.com/cometbft/cometbft/config"
	cmtflags "github.com/cometbft/cometbft/libs/cli/flags"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/libs/log"
	cmtnode "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/proxy"
	"github.com/cometbft/cometbft/rpc/client/local"

	"github.com/medchain/medchain/abci"
	"github.com/medchain/medchain/abci/store"
	"github.com/medchain/medchain/genesis"
	"github.com/medchain/medchain/he"
	"github.com/medchain/medchain/node/chainrpc"
	"github.com/medchain/medchain/node/gateway"
	"github.com/medchain/medchain/node/hework"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/researchwork"
)

// Node is one running medchain validator: CometBFT in-process plus the app.
type Node struct {
	conf   *Config
	logger log.Logger
	cmt    *cmtnode.Node
	store  *store.Store

	mu  sync.Mutex
	dbs []dbm.DB // every CometBFT database, closed on Stop

	// stopGateway and stopWorker stop the gateway and the HE worker, if
	// they run; Stop calls them first, in this order.
	stopGateway func()
	stopWorker  func()
	// stopWatch ends watchSync.
	stopWatch chan struct{}
	// vault is the process's one lease on the hospital's vault; Stop
	// closes it after the services that use it.
	vault *gateway.VaultLease
}

// StateDir is where the app's state store lives in a home.
func StateDir(conf *cmtcfg.Config) string { return conf.RootDir + "/data/medchain-state" }

// NewLogger returns CometBFT's structured logger in the configured format
// and level, writing to w.
func NewLogger(conf *cmtcfg.Config, w *os.File) (log.Logger, error) {
	var l log.Logger
	switch conf.LogFormat {
	case cmtcfg.LogFormatJSON:
		l = log.NewTMJSONLogger(log.NewSyncWriter(w))
	case cmtcfg.LogFormatPlain, "":
		l = log.NewTMLogger(log.NewSyncWriter(w))
	default:
		return nil, fmt.Errorf("log_format %q: use plain or json", conf.LogFormat)
	}
	l, err := cmtflags.ParseLogLevel(conf.LogLevel, l, cmtcfg.DefaultLogLevel)
	if err != nil {
		return nil, fmt.Errorf("log_level %q: %w", conf.LogLevel, err)
	}
	return l, nil
}

// New checks every file of the home, opens the state store and builds the
// CometBFT node (not yet started).
func New(conf *Config, logger log.Logger) (*Node, error) {
	c := conf.Comet
	if err := checkFiles(c); err != nil {
		return nil, err
	}
	doc, _, err := genesis.Load(c.GenesisFile())
	if err != nil {
		return nil, err
	}
	st, err := store.Open(store.Options{
		Dir: StateDir(c), KeepRecent: conf.App.State.KeepRecent, CacheSize: conf.App.State.CacheSize,
		InitialHeight: doc.InitialHeight,
		Logger:        storeLogger{logger.With("module", "state")},
		Snapshots: store.SnapshotOptions{Dir: SnapshotDir(c.RootDir), Interval: conf.App.State.SnapshotInterval,
			KeepRecent: conf.App.State.SnapshotKeepRecent},
	})
	if err != nil {
		return nil, fmt.Errorf("state store %s: %w", StateDir(c), err)
	}
	n := &Node{conf: conf, logger: logger, store: st}
	var app abcitypes.Application = abci.New(doc.ChainID, st, logger)
	if conf.BenchKVStore {
		// Benchmark baseline only: CometBFT's example app on the same node
		// wiring, so scripts/bench-chain.sh compares like with like.
		app = kvstore.NewPersistentApplication(filepath.Join(c.RootDir, "data", "kvstore"))
	}
	pv := privval.LoadFilePV(c.PrivValidatorKeyFile(), c.PrivValidatorStateFile())
	nk, err := p2p.LoadNodeKey(c.NodeKeyFile())
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("node key %s: %w", c.NodeKeyFile(), err)
	}
	n.cmt, err = cmtnode.NewNodeWithContext(context.Background(), c, pv, nk,
		// One mutex per ABCI connection, not one for all: a state query
		// (RPC clients, the HE worker, the gateway, the research
		// contributor) reads committed versions and need not wait for a
		// block being executed; at 8–17 s blocks it waited past the RPC
		// write timeout. The app locks what it mutates itself (App.mu;
		// the store's committed view has its own RW lock).
		proxy.NewConnSyncLocalClientCreator(app),
		cmtnode.DefaultGenesisDocProviderFunc(c),
		n.dbProvider,
		cmtnode.DefaultMetricsProvider(c.Instrumentation),
		logger)
	if err != nil {
		n.closeDBs()
		st.Close()
		return nil, fmt.Errorf("create node: %w", err)
	}
	return n, nil
}

// dbProvider opens CometBFT's databases and remembers them: CometBFT never
// closes its tx-index database, and a restart in the same process would
// find it locked.
func (n *Node) dbProvider(ctx *cmtcfg.DBContext) (dbm.DB, error) {
	db, err := cmtcfg.DefaultDBProvider(ctx)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.dbs = append(n.dbs, db)
	n.mu.Unlock()
	return db, nil
}

func (n *Node) closeDBs() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, db := range n.dbs {
		_ = db.Close()
	}
	n.dbs = nil
}

// Start checks the listen addresses are free, then starts CometBFT.
func (n *Node) Start() error {
	c := n.conf.Comet
	for _, l := range []struct{ setting, addr string }{
		{"rpc.laddr", c.RPC.ListenAddress}, {"p2p.laddr", c.P2P.ListenAddress},
	} {
		if err := checkFree(l.addr); err != nil {
			n.Stop()
			return fmt.Errorf("%s = %s: %w", l.setting, l.addr, err)
		}
	}
	if err := n.cmt.Start(); err != nil {
		n.Stop()
		return fmt.Errorf("start node: %w", err)
	}
	n.logger.Info("medchain node started", "moniker", c.Moniker, "node_id", n.cmt.NodeInfo().ID(),
		"rpc", c.RPC.ListenAddress, "p2p", c.P2P.ListenAddress)
	n.stopWatch = make(chan struct{})
	go n.watchSync(n.stopWatch, 15*time.Second)
	return nil
}

// Stop shuts down in the order that loses nothing: CometBFT's services,
// then the app connection, then CometBFT's databases, then the state store.
func (n *Node) Stop() {
	if n.stopWatch != nil {
		close(n.stopWatch)
		n.stopWatch = nil
	}
	if n.stopGateway != nil {
		n.stopGateway()
		n.stopGateway = nil
	}
	if n.stopWorker != nil {
		n.stopWorker()
		n.stopWorker = nil
	}
	if n.vault != nil {
		n.vault.Close()
		n.vault = nil
	}
	if n.cmt != nil && n.cmt.IsRunning() {
		if err := n.cmt.Stop(); err != nil {
			n.logger.Error("stop node", "err", err)
		}
		n.cmt.Wait()
	}
	if n.cmt != nil {
		if err := n.cmt.ProxyApp().Stop(); err != nil && !strings.Contains(err.Error(), "already stopped") && !strings.Contains(err.Error(), "not started") {
			n.logger.Error("stop app connection", "err", err)
		}
	}
	n.closeDBs()
	if n.store != nil {
		if err := n.store.Close(); err != nil {
			n.logger.Error("close state store", "err", err)
		}
		n.store = nil
	}
	n.logger.Info("medchain node stopped")
}

// RunOptions configure the hospital services Run starts next to the node.
type RunOptions struct {
	// KeyringBackend is the backend of the home's keyring
	// (keyring.BackendFile if empty).
	KeyringBackend string
	// Passphrase unlocks the file backend's keys. Run asks it at most once,
	// before the node starts, and only if the HE worker or the gateway is
	// to run.
	Passphrase keyring.PassphraseFunc
}

// Run starts the node, the HE worker if this home takes part in the
// alliance's key (see prepareHEWorker), and the gateway with its shredder
// if app.toml enables it (see prepareGateway), and stops them all when ctx
// is done (SIGINT/SIGTERM in `medchain start`).
func Run(ctx context.Context, conf *Config, logger log.Logger, o RunOptions) error {
	n, err := New(conf, logger)
	if err != nil {
		return err
	}
	keys := &keySource{n: n, o: o}
	// One lease on the hospital's vault for every service of this process
	// (the gateway, the shredder, the research contributor).
	n.vault = gateway.NewVaultLease(conf.Home, storeLogger{logger.With("module", "vault")}, vaultLinger)
	hw, err := n.prepareHEWorker(keys)
	if err != nil {
		n.Stop()
		return err
	}
	gw, err := n.prepareGateway(keys)
	if err != nil {
		n.Stop()
		return err
	}
	if err := n.Start(); err != nil {
		if gw != nil {
			_ = gw.listener.Close()
		}
		return err
	}
	if hw != nil {
		n.startHEWorker(hw)
	}
	if gw != nil {
		n.startGateway(gw)
	}
	<-ctx.Done()
	n.logger.Info("shutting down", "reason", context.Cause(ctx))
	n.Stop()
	return nil
}

func checkFree(laddr string) error {
	u, err := url.Parse(laddr)
	if err != nil || u.Host == "" {
		return fmt.Errorf("not a tcp://host:port address")
	}
	l, err := net.Listen("tcp", u.Host)
	if err != nil {
		return fmt.Errorf("cannot listen (%v); is another node running on this port? pick another port in config.toml or with the flag", err)
	}
	return l.Close()
}

// checkFiles reads every key and genesis file CometBFT will read, so a
// missing or corrupt file is an error naming it (CometBFT's loaders exit
// the process instead).
func checkFiles(c *cmtcfg.Config) error {
	if err := checkKeyFiles(c, true); err != nil {
		return err
	}
	_, _, err := genesis.Load(c.GenesisFile())
	return err
}

// checkKeyFiles reads the validator key (and sign state) and node key.
func checkKeyFiles(c *cmtcfg.Config, withState bool) error {
	var pvKey privval.FilePVKey
	if err := readJSON(c.PrivValidatorKeyFile(), &pvKey, "validator key"); err != nil {
		return err
	}
	if pvKey.PrivKey == nil {
		return fmt.Errorf("validator key %s has no priv_key", c.PrivValidatorKeyFile())
	}
	if withState {
		var st privval.FilePVLastSignState
		if err := readJSON(c.PrivValidatorStateFile(), &st, "validator sign state"); err != nil {
			return err
		}
	}
	var nk p2p.NodeKey
	if err := readJSON(c.NodeKeyFile(), &nk, "node key"); err != nil {
		return err
	}
	if nk.PrivKey == nil {
		return fmt.Errorf("node key %s has no priv_key", c.NodeKeyFile())
	}
	return nil
}

func readJSON(path string, v any, what string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s file %s: %w", what, path, err)
	}
	if err := cmtjson.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s file %s is corrupt: %w", what, path, err)
	}
	return nil
}

// storeLogger adapts CometBFT's logger to the store's.
type storeLogger struct{ l log.Logger }

func (s storeLogger) Info(msg string, kv ...any)  { s.l.Info(msg, kv...) }
func (s storeLogger) Error(msg string, kv ...any) { s.l.Error(msg, kv...) }

// heWorkerSetup is what the HE worker needs from the home, gathered before
// the node starts so that a passphrase prompt does not mix with its logs.
type heWorkerSetup struct {
	chainID        string
	params         *he.Params
	secrets        *keyring.Keyring
	operator, seal ed25519.PrivateKey
	// hospital is this home's member hospital (its operator key's), ""
	// if none; research is whether genesis has research rules.
	hospital string
	research bool
}

// hospitalKeys are the hospital's keys the services use: the operator key
// (signs their txs) and the seal key (its seed is the X25519 key data keys
// and key shares are sealed to).
type hospitalKeys struct {
	secrets        *keyring.Keyring
	operator, seal ed25519.PrivateKey
}

// keySource unlocks the hospital's keys once, for whichever service asks
// first, so that the passphrase is asked at most once.
type keySource struct {
	n      *Node
	o      RunOptions
	done   bool
	keys   *hospitalKeys
	err    error
	absent string // the key the keyring lacks, if any
}

// get returns the unlocked keys, or nil (logging that service is off and
// which key is missing) when the keyring lacks one. A keyring that holds the keys but cannot
// unlock them (wrong passphrase, other backend) is an error: the hospital
// would silently miss its duties.
func (k *keySource) get(service string) (*hospitalKeys, error) {
	if !k.done {
		k.done = true
		k.keys, k.absent, k.err = k.n.unlockHospitalKeys(k.o)
	}
	if k.err != nil {
		return nil, fmt.Errorf("%s: %w", service, k.err)
	}
	if k.keys == nil {
		k.n.logger.Info(service+" off: no such key in the keyring", "key", k.absent, "keyring", KeyringDir(k.n.conf.Home))
	}
	return k.keys, nil
}

func (n *Node) unlockHospitalKeys(o RunOptions) (*hospitalKeys, string, error) {
	backend := o.KeyringBackend
	if backend == "" {
		backend = keyring.BackendFile
	}
	prompt := o.Passphrase
	if prompt == nil {
		prompt = func(bool) (string, error) { return "", errors.New("no keyring passphrase was given") }
	}
	dir := KeyringDir(n.conf.Home)
	kr, err := keyring.Open(dir, backend, OncePassphrase(prompt))
	if err != nil {
		return nil, "", err
	}
	for _, name := range []string{OperatorKeyName, SealKeyName} {
		if _, err := kr.Show(name); errors.Is(err, keyring.ErrKeyNotFound) {
			return nil, name, nil
		} else if err != nil {
			return nil, "", err
		}
	}
	keys := &hospitalKeys{secrets: kr}
	if keys.operator, err = kr.Signer(OperatorKeyName); err != nil {
		return nil, "", fmt.Errorf("unlock the %q key: %w (give the keyring passphrase at the prompt or with --keyring-passphrase-file)", OperatorKeyName, err)
	}
	if keys.seal, err = kr.Signer(SealKeyName); err != nil {
		return nil, "", fmt.Errorf("unlock the %q key: %w", SealKeyName, err)
	}
	return keys, "", nil
}

// prepareHEWorker decides whether this home runs the HE worker: only when
// genesis has an "he" section and the keyring holds both the operator and
// the seal key. It returns nil (and logs why) otherwise.
func (n *Node) prepareHEWorker(keys *keySource) (*heWorkerSetup, error) {
	if n.conf.BenchKVStore {
		return nil, nil
	}
	doc, st, err := genesis.Load(n.conf.Comet.GenesisFile())
	if err != nil {
		return nil, err
	}
	if st.HE == nil {
		n.logger.Info("HE worker off: the genesis has no he section")
		return nil, nil
	}
	k, err := keys.get("HE worker")
	if err != nil || k == nil {
		return nil, err
	}
	hw := &heWorkerSetup{chainID: doc.ChainID, secrets: k.secrets, operator: k.operator, seal: k.seal, research: st.Research != nil}
	for _, h := range st.Hospitals {
		if bytes.Equal(h.OperatorPubKey, k.operator.Public().(ed25519.PublicKey)) {
			hw.hospital = h.ID
		}
	}
	if hw.params, err = he.NewParams(st.HE.Params); err != nil {
		return nil, fmt.Errorf("genesis he.params: %w", err)
	}
	return hw, nil
}

// startHEWorker starts the HE worker on the running node: it reads state
// and broadcasts through the in-process RPC client, and wakes up on every
// new block. The node keeps running if the worker cannot start.
func (n *Node) startHEWorker(hw *heWorkerSetup) {
	const subscriber = "hework"
	logger := n.logger.With("module", "hework")
	lc := local.New(n.cmt)
	ctx, cancel := context.WithCancel(context.Background())
	wake, err := chainrpc.WatchBlocks(ctx, lc, subscriber)
	if err != nil {
		logger.Error("HE worker: no block events; polling instead", "err", err)
	}
	cfg := hework.Config{
		ChainID: hw.chainID, Params: hw.params, Operator: hw.operator, Seal: hw.seal,
		Secrets: hw.secrets, Chain: chainrpc.Chain{C: lc}, Logger: logger, Wake: wake,
	}
	if hw.research && n.vault != nil {
		// hw.hospital is empty for a hospital admitted by vote (not in
		// genesis): the contributor then finds it by member index.
		contrib, err := researchwork.New(researchwork.Config{
			Chain: chainrpc.Chain{C: lc}, Params: hw.params, Hospital: hw.hospital, Vault: n.vault,
			SealPriv: [32]byte(hw.seal.Seed()), Logger: n.logger.With("module", "research"),
		})
		if err != nil {
			logger.Error("research contributor not started", "err", err)
		} else {
			cfg.Contributor = contrib
			go contrib.Preload(ctx, 30*time.Second)
		}
	}
	w, err := hework.New(cfg)
	if err != nil {
		cancel()
		logger.Error("HE worker not started", "err", err)
		return
	}
	w.Start()
	n.stopWorker = func() {
		w.Stop()
		cancel()
		if wake != nil {
			_ = lc.UnsubscribeAll(context.Background(), subscriber)
		}
	}
}

// gatewaySetup is what the gateway needs, gathered before the node starts:
// its listener is bound, so a port in use stops `medchain start` at once.
type gatewaySetup struct {
	chainID   string
	keys      *hospitalKeys
	listener  net.Listener
	cert      tls.Certificate
	publicURL string
}

// prepareGateway decides whether this home runs the gateway and its
// shredder: when app.toml enables it and the keyring holds the operator
// and seal keys. It creates the certificate if it is missing and binds
// the listen address.
func (n *Node) prepareGateway(keys *keySource) (*gatewaySetup, error) {
	g := n.conf.App.Gateway
	if n.conf.BenchKVStore {
		return nil, nil
	}
	if !g.Enable {
		n.logger.Info("gateway off: gateway.enable = false in app.toml")
		return nil, nil
	}
	k, err := keys.get("gateway")
	if err != nil || k == nil {
		return nil, err
	}
	doc, _, err := genesis.Load(n.conf.Comet.GenesisFile())
	if err != nil {
		return nil, err
	}
	certFile, keyFile := g.CertPath(n.conf.Home), g.KeyPath(n.conf.Home)
	if created, err := gateway.EnsureCert(certFile, keyFile, g.CertHosts); err != nil {
		return nil, err
	} else if created {
		n.logger.Info("gateway certificate created", "cert", certFile, "hosts", strings.Join(g.CertHosts, ","))
	}
	cert, _, err := gateway.LoadCertificate(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", g.Listen)
	if err != nil {
		return nil, fmt.Errorf("gateway.listen = %s: cannot listen (%v); is another node running on this port? pick another port in app.toml or with --gateway.listen, or set gateway.enable = false", g.Listen, err)
	}
	return &gatewaySetup{chainID: doc.ChainID, keys: k, listener: l, cert: cert, publicURL: g.URL()}, nil
}

// vaultLinger is how long the gateway keeps the vault open after its last
// fetch or shred: short, so that an import (`medchain ingest`) on the same
// home can open it in between.
const vaultLinger = 250 * time.Millisecond

// startGateway starts the gateway service on the running node: it reads
// state and broadcasts through the in-process RPC client and wakes up on
// every new block. The node keeps running if the gateway cannot start.
func (n *Node) startGateway(gs *gatewaySetup) {
	const subscriber = "gateway"
	logger := n.logger.With("module", "gateway")
	lc := local.New(n.cmt)
	ctx, cancel := context.WithCancel(context.Background())
	wake, err := chainrpc.WatchBlocks(ctx, lc, subscriber)
	if err != nil {
		logger.Error("gateway: no block events; polling instead", "err", err)
	}
	lease := n.vault
	svc, err := gateway.NewService(gateway.ServiceConfig{
		ChainID: gs.chainID, Chain: chainrpc.Chain{C: lc}, Vault: lease,
		Operator: gs.keys.operator, Seal: gs.keys.seal, Listener: gs.listener, Certificate: gs.cert,
		PublicURL: gs.publicURL, Logger: logger, Wake: wake,
	})
	if err != nil {
		cancel()
		_ = gs.listener.Close()
		logger.Error("gateway not started", "err", err)
		return
	}
	svc.Start()
	n.stopGateway = func() {
		svc.Stop()
		cancel()
		if wake != nil {
			_ = lc.UnsubscribeAll(context.Background(), subscriber)
		}
	}
}
