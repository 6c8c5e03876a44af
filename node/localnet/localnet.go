// Package localnet creates and runs an alliance of several validators on one
// machine: homes sharing one genesis, peers on 127.0.0.1, and a Cluster that
// runs each validator as its own OS process (so kill -9 is real). The demo,
// the end-to-end tests and the benchmark drive it.
package localnet

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/crypto/ed25519"

	"github.com/medchain/medchain/genesis"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/vault"
)

// ManifestFile is the name of the file Generate writes in the localnet dir.
const ManifestFile = "localnet.json"

// Options configure Generate.
type Options struct {
	Dir        string
	Validators int
	ChainID    string
	// BasePort: node i uses P2P BasePort+2i, RPC BasePort+2i+1 and, after
	// all of those, its gateway BasePort+2N+i (N validators). If 0, free
	// ports are picked now (for tests).
	BasePort int
	// Tune adjusts each node's CometBFT config after node.TuneLocal.
	Tune func(*cmtcfg.Config)
	// Researcher adds a researcher account to genesis, its key named
	// ResearcherKeyName in node0's keyring.
	Researcher bool
	// Research, if set, replaces genesis's default research rules (tests
	// and the demo turn DP off or lower the minimum cohort).
	Research *genesis.Research
}

// ResearcherKeyName is the researcher's key in node0's keyring.
const ResearcherKeyName = "researcher"

// NodeInfo describes one validator of the localnet.
type NodeInfo struct {
	Index            int    `json:"index"`
	Moniker          string `json:"moniker"`
	Home             string `json:"home"`
	RPC              string `json:"rpc"`
	P2P              string `json:"p2p"`
	Gateway          string `json:"gateway"` // the gateway's URL, https://127.0.0.1:port
	NodeID           string `json:"node_id"`
	ValidatorAddress string `json:"validator_address"`
	OperatorAddress  string `json:"operator_address"`
	HospitalID       string `json:"hospital_id"`
}

// Manifest is localnet.json.
type Manifest struct {
	ChainID string     `json:"chain_id"`
	Dir     string     `json:"dir"`
	Nodes   []NodeInfo `json:"nodes"`
}

// Generate writes Validators homes under Dir (node0, node1, …) with the
// test keyring backend (localnets are for testing), one shared genesis and
// every node listing the others as persistent peers.
func Generate(o Options) (*Manifest, error) {
	if o.Validators < 1 || o.Validators > 64 {
		return nil, fmt.Errorf("--validators %d: use 1 to 64", o.Validators)
	}
	if o.ChainID == "" {
		o.ChainID = "medchain-localnet"
	}
	if o.Dir == "" {
		return nil, fmt.Errorf("--dir is required")
	}
	if entries, err := os.ReadDir(o.Dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("--dir %s is not empty; remove it or pick another", o.Dir)
	}
	ports, err := pickPorts(o.BasePort, 3*o.Validators)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	m := &Manifest{ChainID: o.ChainID, Dir: abs}
	// The alliance pepper (pseudonyms are HMACs under it) is one secret
	// shared by every member, out of band; a localnet makes it here.
	pepper, err := vault.GeneratePepper()
	if err != nil {
		return nil, err
	}
	var members []genesis.Member
	for i := 0; i < o.Validators; i++ {
		p2pPort, rpcPort, gatewayPort := ports[2*i], ports[2*i+1], ports[2*o.Validators+i]
		info := NodeInfo{
			Index: i, Moniker: fmt.Sprintf("hospital%d", i), Home: filepath.Join(abs, fmt.Sprintf("node%d", i)),
			RPC: fmt.Sprintf("http://127.0.0.1:%d", rpcPort), HospitalID: fmt.Sprintf("h%d", i),
			Gateway: fmt.Sprintf("https://127.0.0.1:%d", gatewayPort),
		}
		res, err := node.Init(node.InitOptions{
			Home: info.Home, Moniker: info.Moniker, ChainID: o.ChainID,
			HospitalID: info.HospitalID, HospitalName: fmt.Sprintf("Hospital %d", i),
			KeyringBackend: keyring.BackendTest, SkipGenesis: true,
			Tune: func(c *cmtcfg.Config) {
				node.TuneLocal(c)
				c.RPC.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", rpcPort)
				c.P2P.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", p2pPort)
				if o.Tune != nil {
					o.Tune(c)
				}
			},
		})
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		if err := vault.WritePepper(info.Home, pepper); err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		if err := vault.EnsureKeys(info.Home); err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		app := node.DefaultAppConfig()
		app.Gateway.Listen = fmt.Sprintf("127.0.0.1:%d", gatewayPort)
		if err := node.WriteAppConfig(node.AppConfigPath(info.Home), app); err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		res.Member.P2PAddress = fmt.Sprintf("127.0.0.1:%d", p2pPort)
		info.NodeID, info.P2P = res.Member.NodeID, res.Member.Peer()
		info.ValidatorAddress = ed25519.PubKey(res.Member.ValidatorPubKey).Address().String()
		info.OperatorAddress = res.OperatorAddress
		members = append(members, res.Member)
		m.Nodes = append(m.Nodes, info)
	}
	var accounts []genesis.Account
	if o.Researcher {
		kr, err := keyring.Open(node.KeyringDir(m.Nodes[0].Home), keyring.BackendTest, nil)
		if err != nil {
			return nil, err
		}
		k, err := kr.Add(ResearcherKeyName)
		if err != nil {
			return nil, err
		}
		accounts = append(accounts, genesis.Account{PubKey: k.PubKey, Role: "researcher", Label: "localnet researcher"})
	}
	doc, err := genesis.Build(o.ChainID, "medchain localnet", members, accounts, genesis.DefaultParams(), time.Now())
	if err != nil {
		return nil, err
	}
	if o.Research != nil {
		st, err := genesis.ParseAppState(doc.AppState)
		if err != nil {
			return nil, err
		}
		st.Research = o.Research
		if err := st.Validate(); err != nil {
			return nil, err
		}
		if doc.AppState, err = json.MarshalIndent(st, "", "  "); err != nil {
			return nil, err
		}
	}
	for _, n := range m.Nodes {
		conf, err := node.LoadConfig(n.Home, nil)
		if err != nil {
			return nil, err
		}
		if err := doc.SaveAs(conf.Comet.GenesisFile()); err != nil {
			return nil, err
		}
		var peers []string
		for _, p := range m.Nodes {
			if p.Index != n.Index {
				peers = append(peers, p.P2P)
			}
		}
		conf.Comet.P2P.PersistentPeers = strings.Join(peers, ",")
		cmtcfg.WriteConfigFile(node.CometConfigPath(n.Home), conf.Comet)
		if err := os.Chmod(node.CometConfigPath(n.Home), 0o600); err != nil {
			return nil, err
		}
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(abs, ManifestFile), raw, 0o600); err != nil {
		return nil, err
	}
	return m, nil
}

// LoadManifest reads dir/localnet.json.
func LoadManifest(dir string) (*Manifest, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("localnet manifest: %w (create one with `medchain localnet`)", err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("localnet manifest %s: %w", filepath.Join(dir, ManifestFile), err)
	}
	return &m, nil
}

// pickPorts returns n ports: base, base+1, … if base > 0 (checked free),
// else n distinct free ports chosen by the kernel.
func pickPorts(base, n int) ([]int, error) {
	out := make([]int, 0, n)
	if base > 0 {
		if base+n > 65535 {
			return nil, fmt.Errorf("--base-port %d: needs %d ports, past 65535", base, n)
		}
		for p := base; p < base+n; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				return nil, fmt.Errorf("--base-port %d: port %d is in use; pick another base", base, p)
			}
			l.Close()
			out = append(out, p)
		}
		return out, nil
	}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
