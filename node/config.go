package node

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/medchain/medchain/node/gateway"
	"github.com/medchain/medchain/node/internal/atomicfile"
)

// EnvPrefix prefixes every environment variable medchain reads: a setting
// "state.keep_recent" is MEDCHAIN_STATE_KEEP_RECENT, CometBFT's "rpc.laddr"
// is MEDCHAIN_RPC_LADDR.
const EnvPrefix = "MEDCHAIN"

// AppConfig is medchain's own settings, from <home>/config/app.toml.
type AppConfig struct {
	State   StateConfig   `mapstructure:"state"`
	Gateway GatewayConfig `mapstructure:"gateway"`
}

// StateConfig configures the state store.
type StateConfig struct {
	// KeepRecent is how many recent state versions to keep; 0 keeps all
	// (archive), which auditors and proofs at old heights need.
	KeepRecent int64 `mapstructure:"keep_recent"`
	// CacheSize is the IAVL node cache, in nodes.
	CacheSize int `mapstructure:"cache_size"`
	// SnapshotInterval takes a state-sync snapshot every that many
	// heights, in the background; 0 takes none (the node can still
	// restore one to join by state sync).
	SnapshotInterval int64 `mapstructure:"snapshot_interval"`
	// SnapshotKeepRecent is how many snapshots to keep (at least 1).
	SnapshotKeepRecent int `mapstructure:"snapshot_keep_recent"`
}

// Default snapshot settings: about every 17 minutes at one-second blocks,
// the two newest kept.
const (
	DefaultSnapshotInterval   = 1000
	DefaultSnapshotKeepRecent = 2
)

// SnapshotDir is where a home keeps its state-sync snapshots.
func SnapshotDir(home string) string { return filepath.Join(home, "data", "snapshots") }

// GatewayConfig configures the hospital's HTTPS gateway (node/gateway),
// where doctors fetch the ciphertexts of records this hospital keeps.
type GatewayConfig struct {
	// Enable runs the gateway and the erasure shredder with the node.
	Enable bool `mapstructure:"enable"`
	// Listen is the host:port the gateway listens on.
	Listen string `mapstructure:"listen"`
	// PublicURL is the https:// address published on chain for clients;
	// empty means https://<listen>.
	PublicURL string `mapstructure:"public_url"`
	// CertHosts are the IP addresses and DNS names of the certificate the
	// node creates when there is none.
	CertHosts []string `mapstructure:"cert_hosts"`
	// CertFile and KeyFile are the TLS certificate and key (PEM); empty
	// means <home>/config/gateway_cert.pem and gateway_key.pem. A relative
	// path is relative to the home.
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
}

// DefaultGatewayListen is the gateway's default listen address.
const DefaultGatewayListen = "127.0.0.1:26680"

// DefaultAppConfig is what `medchain init` writes.
func DefaultAppConfig() AppConfig {
	return AppConfig{
		State: StateConfig{KeepRecent: 0, CacheSize: 100_000,
			SnapshotInterval: DefaultSnapshotInterval, SnapshotKeepRecent: DefaultSnapshotKeepRecent},
		Gateway: GatewayConfig{
			Enable: true, Listen: DefaultGatewayListen, CertHosts: []string{"127.0.0.1", "localhost"},
		},
	}
}

// CertPath is the gateway certificate file of home.
func (g GatewayConfig) CertPath(home string) string {
	return homePath(home, g.CertFile, "gateway_cert.pem")
}

// KeyPath is the gateway key file of home.
func (g GatewayConfig) KeyPath(home string) string {
	return homePath(home, g.KeyFile, "gateway_key.pem")
}

func homePath(home, set, def string) string {
	switch {
	case set == "":
		return filepath.Join(home, "config", def)
	case filepath.IsAbs(set):
		return set
	}
	return filepath.Join(home, set)
}

// URL is the address published on chain: PublicURL, or https://<listen>.
func (g GatewayConfig) URL() string {
	if g.PublicURL != "" {
		return g.PublicURL
	}
	return "https://" + g.Listen
}

// Validate checks the gateway settings; errors name the setting.
func (g GatewayConfig) Validate() error {
	host, port, err := net.SplitHostPort(g.Listen)
	if err != nil {
		return fmt.Errorf("gateway.listen = %q: want host:port, e.g. %s", g.Listen, DefaultGatewayListen)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("gateway.listen = %q: the port must be a number from 1 to 65535", g.Listen)
	}
	if g.PublicURL == "" {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			return fmt.Errorf("gateway.listen = %q listens on every interface, which is no address to publish: set gateway.public_url to the https://host:port clients dial", g.Listen)
		}
	}
	if err := gateway.CheckPublicURL(g.URL()); err != nil {
		return fmt.Errorf("gateway.public_url: %w", err)
	}
	if err := gateway.CheckCertHosts(g.CertHosts); err != nil {
		return fmt.Errorf("gateway.cert_hosts: %w", err)
	}
	return nil
}

// Validate checks the settings; errors name the setting.
func (c AppConfig) Validate() error {
	if c.State.KeepRecent < 0 {
		return fmt.Errorf("state.keep_recent = %d: must be 0 (archive) or a positive number of versions", c.State.KeepRecent)
	}
	if c.State.KeepRecent == 1 {
		return errors.New("state.keep_recent = 1: keep at least 2 versions, or 0 for archive, so queries of the previous height still work")
	}
	if c.State.CacheSize < 0 {
		return fmt.Errorf("state.cache_size = %d: must not be negative", c.State.CacheSize)
	}
	if c.State.SnapshotInterval < 0 {
		return fmt.Errorf("state.snapshot_interval = %d: must be 0 (no snapshots) or a positive number of heights", c.State.SnapshotInterval)
	}
	if c.State.SnapshotKeepRecent < 1 {
		return fmt.Errorf("state.snapshot_keep_recent = %d: keep at least 1 snapshot (set state.snapshot_interval = 0 to take none)", c.State.SnapshotKeepRecent)
	}
	return c.Gateway.Validate()
}

var appTOML = template.Must(template.New("app.toml").Parse(`# medchain application settings.
# Precedence: command-line flags > MEDCHAIN_* environment variables > this
# file > built-in defaults. CometBFT's own settings are in config.toml.

[state]
# How many recent state versions to keep. 0 keeps every version (archive):
# auditors and proofs at old heights need it. A value N >= 2 keeps the last
# N versions and prunes older ones after each commit.
# Env: MEDCHAIN_STATE_KEEP_RECENT
keep_recent = {{ .State.KeepRecent }}

# IAVL node cache size, in nodes (about 100 bytes each, plus values).
# Env: MEDCHAIN_STATE_CACHE_SIZE
cache_size = {{ .State.CacheSize }}

# State-sync snapshots: every snapshot_interval heights the node writes the
# committed state to data/snapshots/<height>/ in the background and serves
# it to new members joining by state sync (CometBFT's [statesync] section
# in config.toml, see docs/OPERATIONS.md). 0 takes none; a node can still
# join by state sync. snapshot_keep_recent is how many are kept (>= 1).
# Env: MEDCHAIN_STATE_SNAPSHOT_INTERVAL, MEDCHAIN_STATE_SNAPSHOT_KEEP_RECENT
snapshot_interval = {{ .State.SnapshotInterval }}
snapshot_keep_recent = {{ .State.SnapshotKeepRecent }}

[gateway]
# The HTTPS gateway (TLS 1.3) where doctors fetch the encrypted records this
# hospital keeps, once the chain has recorded their access; also runs the
# shredder that destroys the vault copy of every record erased on chain.
# Env: MEDCHAIN_GATEWAY_ENABLE
enable = {{ .Gateway.Enable }}

# Listen address, host:port. Flag: --gateway.listen
# Env: MEDCHAIN_GATEWAY_LISTEN
listen = {{ printf "%q" .Gateway.Listen }}

# The https://host:port published on chain for clients; empty means
# https://<listen>. Set it when the gateway is reached through another name.
# Env: MEDCHAIN_GATEWAY_PUBLIC_URL
public_url = {{ printf "%q" .Gateway.PublicURL }}

# IP addresses and DNS names of the self-signed certificate the node creates
# when there is none. Clients pin its SHA-256, which the node publishes.
# Env: MEDCHAIN_GATEWAY_CERT_HOSTS (comma-separated)
cert_hosts = [{{ range $i, $h := .Gateway.CertHosts }}{{ if $i }}, {{ end }}{{ printf "%q" $h }}{{ end }}]

# Certificate and key (PEM; key mode 0600). Empty means
# config/gateway_cert.pem and config/gateway_key.pem; relative to the home.
# Env: MEDCHAIN_GATEWAY_CERT_FILE, MEDCHAIN_GATEWAY_KEY_FILE
cert_file = {{ printf "%q" .Gateway.CertFile }}
key_file = {{ printf "%q" .Gateway.KeyFile }}
`))

// WriteAppConfig renders c into path (0600).
func WriteAppConfig(path string, c AppConfig) error {
	var buf bytes.Buffer
	if err := appTOML.Execute(&buf, c); err != nil {
		return err
	}
	return atomicfile.Replace(path, buf.Bytes(), 0o600)
}

// Config is everything a node needs: CometBFT's config and medchain's.
type Config struct {
	Home  string
	Comet *cmtcfg.Config
	App   AppConfig
	// BenchKVStore runs CometBFT's kvstore example app instead of medchain:
	// the benchmark's baseline, never a production setting.
	BenchKVStore bool
}

// AppConfigPath is <home>/config/app.toml.
func AppConfigPath(home string) string { return filepath.Join(home, "config", "app.toml") }

// CometConfigPath is <home>/config/config.toml.
func CometConfigPath(home string) string { return filepath.Join(home, "config", "config.toml") }

// cometFlags are the CometBFT settings `medchain start` takes as flags.
var cometFlags = []struct{ key, usage string }{
	{"rpc.laddr", "RPC listen address (default from config.toml; keep it on 127.0.0.1 unless TLS fronts it)"},
	{"p2p.laddr", "P2P listen address"},
	{"p2p.persistent_peers", "comma-separated id@host:port peers to stay connected to"},
	{"p2p.external_address", "address other hospitals dial to reach this node (host:port)"},
	{"log_level", "log level, e.g. info or consensus:info,*:error"},
	{"log_format", "log format: plain or json"},
}

// appFlags are the app.toml settings `medchain start` takes as flags.
var appFlags = []struct{ key, usage string }{
	{"state.keep_recent", "state versions to keep (0 = archive)"},
	{"state.snapshot_interval", "take a state-sync snapshot every N heights (0 = none)"},
	{"gateway.listen", "gateway HTTPS listen address, host:port"},
}

// AddStartFlags registers the overridable settings on fs.
func AddStartFlags(fs *pflag.FlagSet) {
	for _, f := range cometFlags {
		fs.String(f.key, "", f.usage)
	}
	for _, f := range appFlags {
		fs.String(f.key, "", f.usage)
	}
}

// LoadConfig reads both toml files of home, then env, then the flags set in
// fs (nil for none). Unknown keys in app.toml, a missing file or an invalid
// value are errors naming the file and the setting.
func LoadConfig(home string, fs *pflag.FlagSet) (*Config, error) {
	if home == "" {
		return nil, errors.New("--home is required: the folder `medchain init` created")
	}
	if st, err := os.Stat(home); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("home %s does not exist or is not a folder; create it with `medchain init --home %s --moniker NAME`", home, home)
	}
	comet, err := loadComet(home, fs)
	if err != nil {
		return nil, err
	}
	app, err := loadApp(home, fs)
	if err != nil {
		return nil, err
	}
	return &Config{Home: home, Comet: comet, App: app}, nil
}

func newViper(path string) (*viper.Viper, error) {
	v := viper.New()
	v.SetConfigFile(path)
	v.SetConfigType("toml")
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	v.AutomaticEnv()
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("config file %s is missing (%v); run `medchain init` for this home", path, err)
	}
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("config file %s is not valid TOML: %w", path, err)
	}
	return v, nil
}

func bindFlags(v *viper.Viper, fs *pflag.FlagSet, keys []string) error {
	if fs == nil {
		return nil
	}
	for _, k := range keys {
		if f := fs.Lookup(k); f != nil && f.Changed {
			v.Set(k, f.Value.String())
		}
	}
	return nil
}

func loadComet(home string, fs *pflag.FlagSet) (*cmtcfg.Config, error) {
	path := CometConfigPath(home)
	v, err := newViper(path)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(cometFlags))
	for i, f := range cometFlags {
		keys[i] = f.key
	}
	if err := bindFlags(v, fs, keys); err != nil {
		return nil, err
	}
	conf := cmtcfg.DefaultConfig()
	if err := v.Unmarshal(conf); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	conf.SetRoot(home)
	if err := conf.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("config file %s (or its MEDCHAIN_* overrides): %w", path, err)
	}
	return conf, nil
}

func loadApp(home string, fs *pflag.FlagSet) (AppConfig, error) {
	path := AppConfigPath(home)
	v, err := newViper(path)
	if err != nil {
		return AppConfig{}, err
	}
	def := DefaultAppConfig()
	v.SetDefault("state.keep_recent", def.State.KeepRecent)
	v.SetDefault("state.cache_size", def.State.CacheSize)
	v.SetDefault("state.snapshot_interval", def.State.SnapshotInterval)
	v.SetDefault("state.snapshot_keep_recent", def.State.SnapshotKeepRecent)
	v.SetDefault("gateway.enable", def.Gateway.Enable)
	v.SetDefault("gateway.listen", def.Gateway.Listen)
	v.SetDefault("gateway.public_url", def.Gateway.PublicURL)
	v.SetDefault("gateway.cert_hosts", def.Gateway.CertHosts)
	v.SetDefault("gateway.cert_file", def.Gateway.CertFile)
	v.SetDefault("gateway.key_file", def.Gateway.KeyFile)
	keys := make([]string, len(appFlags))
	for i, f := range appFlags {
		keys[i] = f.key
	}
	if err := bindFlags(v, fs, keys); err != nil {
		return AppConfig{}, err
	}
	var c AppConfig
	if err := v.UnmarshalExact(&c); err != nil {
		return AppConfig{}, fmt.Errorf("config file %s (or its MEDCHAIN_* overrides): %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return AppConfig{}, fmt.Errorf("config file %s: %w", path, err)
	}
	return c, nil
}
