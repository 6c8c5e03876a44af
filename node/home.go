package node

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"golang.org/x/crypto/curve25519"

	"github.com/medchain/medchain/genesis"
	"github.com/medchain/medchain/node/gateway"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/vault"
)

// OperatorKeyName is the keyring name of a hospital's operator key.
const OperatorKeyName = "operator"

// SealKeyName is the keyring name of a hospital's sealing key: the 32-byte
// secret seed of this keyring entry is used as an X25519 private scalar,
// never as an ed25519 signing key.
const SealKeyName = "seal"

// SealPublicKey derives the X25519 public key of the keyring entry
// SealKeyName from its ed25519 form (which holds the same 32-byte seed).
func SealPublicKey(priv ed25519.PrivateKey) ([]byte, error) {
	return curve25519.X25519(priv.Seed(), curve25519.Basepoint)
}

// KeyringDir is where a home keeps its keyring.
func KeyringDir(home string) string { return filepath.Join(home, "keyring") }

// InitOptions configure Init.
type InitOptions struct {
	Home    string
	Moniker string
	ChainID string
	// HospitalID and HospitalName describe this node's hospital in the
	// genesis Init writes; they default to the moniker.
	HospitalID, HospitalName string
	// KeyringBackend is keyring.BackendFile (default) or keyring.BackendTest.
	KeyringBackend string
	Passphrase     keyring.PassphraseFunc
	// Tune, if set, adjusts the CometBFT config before it is written.
	Tune func(*cmtcfg.Config)
	// SkipGenesis leaves the genesis to `medchain genesis build` (multi-host).
	SkipGenesis bool
}

// InitResult is what Init created.
type InitResult struct {
	Member          genesis.Member
	OperatorAddress string
}

var monikerPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// TuneProduction is the default CometBFT tuning medchain writes: one-second
// blocks, big txs allowed (homomorphic ciphertexts), RPC on 127.0.0.1 only.
func TuneProduction(c *cmtcfg.Config) {
	c.RPC.ListenAddress = "tcp://127.0.0.1:26657"
	c.Mempool.MaxTxBytes = 8 << 20
	c.RPC.MaxBodyBytes = 24 << 20
	c.Consensus.TimeoutCommit = time.Second
	c.Consensus.TimeoutPropose = 3 * time.Second
	c.TxIndex.Indexer = "kv"
	c.Instrumentation.Prometheus = false
}

// TuneLocal tunes for validators on one machine: sub-second blocks through
// CometBFT's own settings, loopback peers allowed.
func TuneLocal(c *cmtcfg.Config) {
	TuneProduction(c)
	c.Consensus.TimeoutCommit = 100 * time.Millisecond
	c.Consensus.TimeoutPropose = 2 * time.Second
	c.Consensus.PeerGossipSleepDuration = 10 * time.Millisecond
	c.P2P.FlushThrottleTimeout = 10 * time.Millisecond
	c.P2P.AddrBookStrict = false
	c.P2P.AllowDuplicateIP = true
	c.P2P.PexReactor = false
	// Loopback carries far more than CometBFT's default 5 MB/s per peer;
	// at that rate a 4 MiB proposal (abci.ProposalTxBytes) would eat most
	// of timeout_propose on its own.
	c.P2P.SendRate = 100 << 20
	c.P2P.RecvRate = 100 << 20
}

// Init lays out a new home: CometBFT's config.toml, node key, validator key
// and (unless SkipGenesis) a one-member genesis; medchain's app.toml and
// the gateway's TLS certificate; and a keyring holding the hospital's
// operator key. It refuses a home that
// already has a config.
func Init(o InitOptions) (*InitResult, error) {
	if o.Home == "" {
		return nil, errors.New("--home is required")
	}
	if !monikerPattern.MatchString(o.Moniker) {
		return nil, fmt.Errorf("--moniker %q: use 1 to 64 letters, digits, '.', '_' or '-'", o.Moniker)
	}
	if o.ChainID == "" {
		o.ChainID = "medchain-1"
	}
	if o.HospitalID == "" {
		o.HospitalID = strings.ToLower(strings.NewReplacer(".", "-", "_", "-").Replace(o.Moniker))
	}
	if o.HospitalName == "" {
		o.HospitalName = o.Moniker
	}
	if o.KeyringBackend == "" {
		o.KeyringBackend = keyring.BackendFile
	}
	if _, err := os.Stat(CometConfigPath(o.Home)); err == nil {
		return nil, fmt.Errorf("%s already exists: %s is already a medchain home; pick another --home", CometConfigPath(o.Home), o.Home)
	}
	for _, d := range []string{o.Home, filepath.Join(o.Home, "config"), filepath.Join(o.Home, "data")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	conf := cmtcfg.DefaultConfig()
	conf.SetRoot(o.Home)
	conf.Moniker = o.Moniker
	TuneProduction(conf)
	if o.Tune != nil {
		o.Tune(conf)
	}
	cmtcfg.WriteConfigFile(CometConfigPath(o.Home), conf)
	if err := os.Chmod(CometConfigPath(o.Home), 0o600); err != nil {
		return nil, err
	}
	app := DefaultAppConfig()
	if err := WriteAppConfig(AppConfigPath(o.Home), app); err != nil {
		return nil, fmt.Errorf("write %s: %w", AppConfigPath(o.Home), err)
	}
	if _, err := gateway.EnsureCert(app.Gateway.CertPath(o.Home), app.Gateway.KeyPath(o.Home), app.Gateway.CertHosts); err != nil {
		return nil, err
	}
	// The vault's key (encryption at rest); the alliance pepper is not
	// made here: it is one secret of the whole alliance (medchain pepper).
	if err := vault.EnsureKeys(o.Home); err != nil {
		return nil, err
	}
	pv := privval.GenFilePV(conf.PrivValidatorKeyFile(), conf.PrivValidatorStateFile())
	pv.Save()
	nk, err := p2p.LoadOrGenNodeKey(conf.NodeKeyFile())
	if err != nil {
		return nil, fmt.Errorf("node key %s: %w", conf.NodeKeyFile(), err)
	}
	// One passphrase protects both keys: ask (and confirm) it once.
	kr, err := keyring.Open(KeyringDir(o.Home), o.KeyringBackend, OncePassphrase(o.Passphrase))
	if err != nil {
		return nil, err
	}
	op, err := kr.Add(OperatorKeyName)
	if err != nil {
		return nil, fmt.Errorf("operator key: %w", err)
	}
	if _, err := kr.Add(SealKeyName); err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	sealPub, err := sealPubOf(kr)
	if err != nil {
		return nil, err
	}
	m := genesis.Member{
		Hospital: genesis.Hospital{
			ID: o.HospitalID, Name: o.HospitalName, Power: 10,
			ValidatorPubKey: pv.Key.PubKey.Bytes(), OperatorPubKey: []byte(op.PubKey), SealPubKey: sealPub,
		},
		NodeID:     string(nk.ID()),
		P2PAddress: strings.TrimPrefix(conf.P2P.ListenAddress, "tcp://"),
	}
	if !o.SkipGenesis {
		doc, err := genesis.Build(o.ChainID, o.HospitalName+" alliance", []genesis.Member{m}, nil, genesis.DefaultParams(), time.Now())
		if err != nil {
			return nil, err
		}
		if err := doc.SaveAs(conf.GenesisFile()); err != nil {
			return nil, fmt.Errorf("write %s: %w", conf.GenesisFile(), err)
		}
	}
	return &InitResult{Member: m, OperatorAddress: op.Address}, nil
}

// MemberInfo reads this home's validator key, node id and operator key:
// what `medchain genesis build` needs from each hospital.
func MemberInfo(home, keyringBackend string, passphrase keyring.PassphraseFunc, hospitalID, hospitalName, p2pAddress string) (*genesis.Member, error) {
	conf, err := loadComet(home, nil)
	if err != nil {
		return nil, err
	}
	if err := checkKeyFiles(conf, false); err != nil {
		return nil, err
	}
	pv := privval.LoadFilePVEmptyState(conf.PrivValidatorKeyFile(), conf.PrivValidatorStateFile())
	nk, err := p2p.LoadNodeKey(conf.NodeKeyFile())
	if err != nil {
		return nil, fmt.Errorf("node key %s: %w", conf.NodeKeyFile(), err)
	}
	kr, err := keyring.Open(KeyringDir(home), keyringBackend, passphrase)
	if err != nil {
		return nil, err
	}
	op, err := kr.Show(OperatorKeyName)
	if err != nil {
		return nil, fmt.Errorf("operator key in %s: %w", KeyringDir(home), err)
	}
	sealPub, err := sealPubOf(kr)
	if err != nil {
		return nil, err
	}
	if hospitalID == "" {
		hospitalID = strings.ToLower(strings.NewReplacer(".", "-", "_", "-").Replace(conf.Moniker))
	}
	if hospitalName == "" {
		hospitalName = conf.Moniker
	}
	if p2pAddress == "" {
		p2pAddress = conf.P2P.ExternalAddress
	}
	return &genesis.Member{
		Hospital: genesis.Hospital{
			ID: hospitalID, Name: hospitalName, Power: 10,
			ValidatorPubKey: pv.Key.PubKey.Bytes(), OperatorPubKey: []byte(ed25519.PublicKey(op.PubKey)),
			SealPubKey: sealPub,
		},
		NodeID: string(nk.ID()), P2PAddress: strings.TrimPrefix(p2pAddress, "tcp://"),
	}, nil
}

// sealPubOf unlocks the seal key (asking the passphrase for a file keyring)
// and returns its X25519 public key.
func sealPubOf(kr *keyring.Keyring) ([]byte, error) {
	priv, err := kr.Signer(SealKeyName)
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	defer clear(priv)
	return SealPublicKey(priv)
}

// OncePassphrase wraps f so that it is asked at most once (with
// confirmation if the first caller wants it); later calls get the same
// answer. For commands that unlock or create several keys in one go.
func OncePassphrase(f keyring.PassphraseFunc) keyring.PassphraseFunc {
	if f == nil {
		return nil
	}
	var (
		asked bool
		pass  string
		err   error
	)
	return func(confirm bool) (string, error) {
		if !asked {
			pass, err = f(confirm)
			asked = true
		}
		return pass, err
	}
}
