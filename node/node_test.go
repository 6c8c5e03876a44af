package node

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/libs/log"
	"github.com/spf13/pflag"

	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/internal/testenv"
	"github.com/medchain/medchain/node/keyring"
)

// newHome inits a one-validator home on free loopback ports.
func newHome(t *testing.T) (home string, rpcPort int) {
	t.Helper()
	home = filepath.Join(t.TempDir(), "home")
	rpcPort, p2pPort := testenv.FreePort(t), testenv.FreePort(t)
	_, err := Init(InitOptions{
		Home: home, Moniker: "test-node", ChainID: "medchain-test", KeyringBackend: keyring.BackendTest,
		Tune: func(c *cmtcfg.Config) {
			TuneLocal(c)
			c.RPC.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", rpcPort)
			c.P2P.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", p2pPort)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return home, rpcPort
}

func TestInitWritesAHomeWithPrivateFiles(t *testing.T) {
	home, _ := newHome(t)
	for _, f := range []string{"config/config.toml", "config/app.toml", "config/node_key.json", "config/priv_validator_key.json", "keyring/operator.key"} {
		st, err := os.Stat(filepath.Join(home, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want no group/other access", f, st.Mode().Perm())
		}
	}
	t.Run("a second init on the same home is refused", func(t *testing.T) {
		_, err := Init(InitOptions{Home: home, Moniker: "again", KeyringBackend: keyring.BackendTest})
		if err == nil || !strings.Contains(err.Error(), "already") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a bad moniker is refused", func(t *testing.T) {
		_, err := Init(InitOptions{Home: t.TempDir(), Moniker: "bad moniker!", KeyringBackend: keyring.BackendTest})
		if err == nil || !strings.Contains(err.Error(), "--moniker") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestSettingsPrecedence(t *testing.T) {
	home, _ := newHome(t)
	load := func(env map[string]string, flags ...string) *Config {
		t.Helper()
		for k, v := range env {
			t.Setenv(k, v)
		}
		fs := pflag.NewFlagSet("start", pflag.ContinueOnError)
		AddStartFlags(fs)
		if err := fs.Parse(flags); err != nil {
			t.Fatal(err)
		}
		c, err := LoadConfig(home, fs)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Run("the toml file beats the defaults", func(t *testing.T) {
		c := load(nil)
		if c.App.State.CacheSize != 100_000 || !strings.HasPrefix(c.Comet.RPC.ListenAddress, "tcp://127.0.0.1:") {
			t.Fatalf("%+v %s", c.App, c.Comet.RPC.ListenAddress)
		}
	})
	t.Run("an env variable beats the toml file", func(t *testing.T) {
		c := load(map[string]string{"MEDCHAIN_STATE_KEEP_RECENT": "7", "MEDCHAIN_RPC_LADDR": "tcp://127.0.0.1:1111"})
		if c.App.State.KeepRecent != 7 || c.Comet.RPC.ListenAddress != "tcp://127.0.0.1:1111" {
			t.Fatalf("%+v %s", c.App, c.Comet.RPC.ListenAddress)
		}
	})
	t.Run("a flag beats the env variable", func(t *testing.T) {
		c := load(map[string]string{"MEDCHAIN_STATE_KEEP_RECENT": "7", "MEDCHAIN_RPC_LADDR": "tcp://127.0.0.1:1111"},
			"--state.keep_recent=9", "--rpc.laddr=tcp://127.0.0.1:2222")
		if c.App.State.KeepRecent != 9 || c.Comet.RPC.ListenAddress != "tcp://127.0.0.1:2222" {
			t.Fatalf("%+v %s", c.App, c.Comet.RPC.ListenAddress)
		}
	})
}

func TestBadFilesAreNamed(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(home string)
		want   string
	}{
		{"a missing home", func(home string) { os.RemoveAll(home) }, "does not exist"},
		{"an unknown key in app.toml", func(home string) {
			appendFile(t, AppConfigPath(home), "\n[state]\nbogus = 1\n")
		}, "app.toml"},
		{"app.toml that is not TOML", func(home string) { os.WriteFile(AppConfigPath(home), []byte("[[[ nope"), 0o600) }, "app.toml"},
		{"a negative keep_recent", func(home string) {
			os.WriteFile(AppConfigPath(home), []byte("[state]\nkeep_recent = -3\n"), 0o600)
		}, "state.keep_recent"},
		{"a missing config.toml", func(home string) { os.Remove(CometConfigPath(home)) }, "config.toml"},
		{"a corrupt validator key", func(home string) {
			os.WriteFile(filepath.Join(home, "config", "priv_validator_key.json"), []byte("{not json"), 0o600)
		}, "priv_validator_key.json"},
		{"a missing node key", func(home string) { os.Remove(filepath.Join(home, "config", "node_key.json")) }, "node_key.json"},
		{"a genesis without app_state", func(home string) {
			p := filepath.Join(home, "config", "genesis.json")
			raw, _ := os.ReadFile(p)
			s := string(raw)
			i := strings.Index(s, `"app_state"`)
			os.WriteFile(p, []byte(s[:i]+`"app_state": {}}`), 0o600)
		}, "genesis.json"},
		{"a corrupt genesis", func(home string) {
			os.WriteFile(filepath.Join(home, "config", "genesis.json"), []byte("garbage"), 0o600)
		}, "genesis.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is an error naming it", func(t *testing.T) {
			home, _ := newHome(t)
			tc.break_(home)
			conf, err := LoadConfig(home, nil)
			if err == nil {
				var n *Node
				n, err = New(conf, log.NewNopLogger())
				if err == nil {
					n.Stop()
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error mentioning %q, got %v", tc.want, err)
			}
		})
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// TestNodeRestartsInTheSameProcess starts a real one-validator node,
// commits blocks, stops it cleanly, starts a new Node on the same home in
// the same process, and checks it resumes at least where it stopped with
// the same app hash for the old height.
func TestNodeRestartsInTheSameProcess(t *testing.T) {
	home, rpcPort := newHome(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", rpcPort)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	run := func() (height int64, hash []byte) {
		conf, err := LoadConfig(home, nil)
		if err != nil {
			t.Fatal(err)
		}
		n, err := New(conf, log.NewNopLogger())
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
		defer n.Stop()
		c, err := client.Dial(url)
		if err != nil {
			t.Fatal(err)
		}
		for {
			st, err := c.Status(ctx)
			if err == nil && st.SyncInfo.LatestBlockHeight >= 3 {
				q, err := c.Query(ctx, "/apphash", 2, false)
				if err != nil {
					t.Fatal(err)
				}
				return st.SyncInfo.LatestBlockHeight, q.Value
			}
			select {
			case <-ctx.Done():
				t.Fatal("node did not reach height 3")
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	h1, hash1 := run()
	h2, hash2 := run()
	if h2 < h1 || string(hash1) != string(hash2) || len(hash1) != 32 {
		t.Fatalf("after restart: height %d -> %d, app hash at 2: %X -> %X", h1, h2, hash1, hash2)
	}
	t.Run("a port in use is an error naming the setting", func(t *testing.T) {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", rpcPort))
		if err != nil {
			t.Skip("port taken by someone else meanwhile")
		}
		defer l.Close()
		conf, err := LoadConfig(home, nil)
		if err != nil {
			t.Fatal(err)
		}
		n, err := New(conf, log.NewNopLogger())
		if err != nil {
			t.Fatal(err)
		}
		err = n.Start()
		if err == nil || !strings.Contains(err.Error(), "rpc.laddr") {
			n.Stop()
			t.Fatalf("got %v", err)
		}
	})
}
