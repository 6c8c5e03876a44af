package localnet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/genesis"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/vault"
)

// AddFullNode lays out the home of a node that joins m's running alliance
// without being a validator (yet): a new folder in m.Dir on free loopback
// ports, node0's genesis, every node of m as a persistent peer, and no
// hospital keys (so it runs neither the gateway nor the HE worker). It
// appends the node to m.Nodes, so a Cluster over m starts it with Start.
func AddFullNode(m *Manifest, moniker string) (*NodeInfo, error) {
	info, _, err := addNode(m, moniker, "")
	return info, err
}

// AddCandidate is AddFullNode for a hospital that asks to join the
// alliance: its home keeps the operator and seal keys `medchain init`
// made, so its HE worker waits, quietly, until a vote admits it and then
// takes part in the next key epoch. It returns the member description
// (hospital id, keys, power) a governance admit-hospital proposal needs.
// Its gateway is off.
func AddCandidate(m *Manifest, moniker, hospitalID string) (*NodeInfo, *genesis.Member, error) {
	return addNode(m, moniker, hospitalID)
}

func addNode(m *Manifest, moniker, hospitalID string) (*NodeInfo, *genesis.Member, error) {
	if len(m.Nodes) == 0 {
		return nil, nil, fmt.Errorf("the localnet has no node to join")
	}
	ports, err := pickPorts(0, 2)
	if err != nil {
		return nil, nil, err
	}
	info := NodeInfo{
		Index: len(m.Nodes), Moniker: moniker, Home: filepath.Join(m.Dir, fmt.Sprintf("node%d", len(m.Nodes))),
		RPC: fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
	}
	if _, err := os.Stat(info.Home); err == nil {
		return nil, nil, fmt.Errorf("%s already exists", info.Home)
	}
	peers := make([]string, 0, len(m.Nodes))
	for _, n := range m.Nodes {
		peers = append(peers, n.P2P)
	}
	res, err := node.Init(node.InitOptions{
		Home: info.Home, Moniker: moniker, ChainID: m.ChainID, KeyringBackend: keyring.BackendTest, SkipGenesis: true,
		Tune: func(c *cmtcfg.Config) {
			node.TuneLocal(c)
			c.RPC.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", ports[1])
			c.P2P.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", ports[0])
			c.P2P.PersistentPeers = strings.Join(peers, ",")
		},
	})
	if err != nil {
		return nil, nil, err
	}
	if hospitalID == "" {
		// Not a member: no operator or seal key, so no hospital services.
		if err := os.RemoveAll(node.KeyringDir(info.Home)); err != nil {
			return nil, nil, err
		}
	}
	app := node.DefaultAppConfig()
	app.Gateway.Enable = false
	if err := node.WriteAppConfig(node.AppConfigPath(info.Home), app); err != nil {
		return nil, nil, err
	}
	src, err := node.LoadConfig(m.Nodes[0].Home, nil)
	if err != nil {
		return nil, nil, err
	}
	gen, err := os.ReadFile(src.Comet.GenesisFile())
	if err != nil {
		return nil, nil, err
	}
	conf, err := node.LoadConfig(info.Home, nil)
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(conf.Comet.GenesisFile(), gen, 0o600); err != nil {
		return nil, nil, err
	}
	res.Member.P2PAddress = fmt.Sprintf("127.0.0.1:%d", ports[0])
	info.NodeID, info.P2P = res.Member.NodeID, res.Member.Peer()
	var member *genesis.Member
	if hospitalID != "" {
		info.HospitalID = hospitalID
		// The alliance pepper reaches a new member out of band, as
		// `medchain pepper import` does; here, from node 0's home.
		pepper, err := vault.LoadPepper(m.Nodes[0].Home)
		if err != nil {
			return nil, nil, err
		}
		if err := vault.WritePepper(info.Home, pepper); err != nil {
			return nil, nil, err
		}
		if member, err = node.MemberInfo(info.Home, keyring.BackendTest, nil, hospitalID, "Hospital "+hospitalID, res.Member.P2PAddress); err != nil {
			return nil, nil, err
		}
	}
	if member != nil {
		info.OperatorAddress = pb.AddressOf(member.OperatorPubKey)
	}
	m.Nodes = append(m.Nodes, info)
	return &m.Nodes[len(m.Nodes)-1], member, nil
}

// StateSync is what a joining node needs to state-sync: two RPC servers of
// the alliance for its light client, and a trusted height and block hash
// (obtained out of band from a member, e.g. from its /commit).
type StateSync struct {
	RPCServers  []string // http://host:port, at least two
	TrustHeight int64
	TrustHash   string // hex
	// TrustPeriod bounds how old the trusted header may be; 0 = 168h.
	TrustPeriod time.Duration
}

// EnableStateSync turns on CometBFT's state sync in home's config.toml
// with s; the node then restores a snapshot at its first start instead of
// replaying the chain from genesis.
func EnableStateSync(home string, s StateSync) error {
	conf, err := node.LoadConfig(home, nil)
	if err != nil {
		return err
	}
	ss := conf.Comet.StateSync
	ss.Enable = true
	ss.RPCServers = s.RPCServers
	ss.TrustHeight, ss.TrustHash = s.TrustHeight, s.TrustHash
	if s.TrustPeriod > 0 {
		ss.TrustPeriod = s.TrustPeriod
	}
	// The shortest waits CometBFT allows: a localnet's peers answer at once.
	ss.DiscoveryTime = 5 * time.Second
	ss.ChunkRequestTimeout = 5 * time.Second
	if err := ss.ValidateBasic(); err != nil {
		return fmt.Errorf("statesync settings: %w", err)
	}
	cmtcfg.WriteConfigFile(node.CometConfigPath(home), conf.Comet)
	return os.Chmod(node.CometConfigPath(home), 0o600)
}
