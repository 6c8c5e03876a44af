package node

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// EnvPrefix prefixes every environment variable medchain reads: a setting
// "state.keep_recent" is MEDCHAIN_STATE_KEEP_RECENT, CometBFT's "rpc.laddr"
// is MEDCHAIN_RPC_LADDR.
const EnvPrefix = "MEDCHAIN"

// AppConfig is medchain's own settings, from <home>/config/app.toml.
type AppConfig struct {
	State StateConfig `mapstructure:"state"`
}

// StateConfig configures the state store.
type StateConfig struct {
	// KeepRecent is how many recent state versions to keep; 0 keeps all
	// (archive), which auditors and proofs at old heights need.
	KeepRecent int64 `mapstructure:"keep_recent"`
	// CacheSize is the IAVL node cache, in nodes.
	CacheSize int `mapstructure:"cache_size"`
}

// DefaultAppConfig is what `medchain init` writes.
func DefaultAppConfig() AppConfig {
	return AppConfig{State: StateConfig{KeepRecent: 0, CacheSize: 100_000}}
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
	return nil
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
`))

// WriteAppConfig renders c into path (0600).
func WriteAppConfig(path string, c AppConfig) error {
	var buf bytes.Buffer
	if err := appTOML.Execute(&buf, c); err != nil {
		return err
	}
	return writeFileAtomic(path, buf.Bytes(), 0o600)
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

// writeFileAtomic writes data to path through a synced temporary file and a
// rename, so a crash leaves the old file or the new one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
