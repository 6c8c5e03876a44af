package genesis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cometbft/cometbft/crypto/ed25519"
	cmttypes "github.com/cometbft/cometbft/types"
)

// Member is what one hospital contributes to a new alliance's genesis:
// `medchain genesis member-info` writes it, `medchain genesis build` reads
// one per hospital.
type Member struct {
	Hospital
	// NodeID and P2PAddress let the others list this node as a peer.
	NodeID     string `json:"node_id"`
	P2PAddress string `json:"p2p_address,omitempty"`
}

// ReadMember reads a member file strictly.
func ReadMember(path string) (*Member, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("member file %s: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var m Member
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("member file %s: %w", path, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("member file %s: trailing data after the JSON object", path)
	}
	return &m, nil
}

// Peer is the member's persistent-peer string, id@host:port, or "".
func (m *Member) Peer() string {
	if m.NodeID == "" || m.P2PAddress == "" {
		return ""
	}
	return m.NodeID + "@" + m.P2PAddress
}

// Build makes the CometBFT genesis document of a new alliance. The
// validator set is the members' validator keys, in the order given, which
// is also their member index (1, 2, …) in the key protocols. When every
// member has a seal key, the alliance gets the default HE section.
func Build(chainID, alliance string, members []Member, accounts []Account, params Params, genesisTime time.Time) (*cmttypes.GenesisDoc, error) {
	s := AppState{Alliance: alliance, Accounts: accounts, Params: params}
	sealed := len(members) > 0
	for _, m := range members {
		s.Hospitals = append(s.Hospitals, m.Hospital)
		sealed = sealed && len(m.SealPubKey) > 0
	}
	if sealed {
		// Every member can receive sealed key shares: the alliance gets a
		// collective key (DefaultHE). Members made by `medchain init` always
		// have a seal key.
		s.HE = DefaultHE(len(members))
		s.Research = DefaultResearch()
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	appState, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	cp := cmttypes.DefaultConsensusParams()
	cp.Block.MaxBytes = 22020096 // 21 MiB: room for blocks of homomorphic ciphertexts
	doc := &cmttypes.GenesisDoc{
		GenesisTime:     genesisTime.UTC(),
		ChainID:         chainID,
		InitialHeight:   1,
		ConsensusParams: cp,
		AppState:        appState,
	}
	for _, m := range members {
		pk := ed25519.PubKey(m.ValidatorPubKey)
		doc.Validators = append(doc.Validators, cmttypes.GenesisValidator{
			Address: pk.Address(), PubKey: pk, Power: m.Power, Name: m.ID,
		})
	}
	if err := doc.ValidateAndComplete(); err != nil {
		return nil, fmt.Errorf("genesis document: %w", err)
	}
	return doc, nil
}

// Load reads a CometBFT genesis file and checks its medchain app_state.
func Load(path string) (*cmttypes.GenesisDoc, *AppState, error) {
	doc, err := cmttypes.GenesisDocFromFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("genesis file %s: %w", path, err)
	}
	s, err := ParseAppState(doc.AppState)
	if err != nil {
		return nil, nil, fmt.Errorf("genesis file %s: %w", path, err)
	}
	return doc, s, nil
}
