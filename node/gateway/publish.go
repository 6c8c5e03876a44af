package gateway

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"

	"github.com/cometbft/cometbft/libs/log"

	"github.com/medchain/medchain/abci"
	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
	"github.com/medchain/medchain/node/chainrpc"
)

// resendAfter is how many blocks a published tx may stay uncommitted
// before the publisher sends it again at the account's current nonce.
const resendAfter = 10

var (
	codeNonceReplayed, _ = abci.CodeOf(abci.ErrNonceReplayed)
	codeNonceSkipped, _  = abci.CodeOf(abci.ErrNonceSkipped)
)

// publisher keeps the hospital's on-chain Gateway record equal to this
// node's public URL and certificate fingerprint, sending a
// "hospital.gateway" tx signed by the operator key when it differs.
type publisher struct {
	chain    Chain
	chainID  string
	operator ed25519.PrivateKey
	addr     string
	hospital string
	url      string
	fp       []byte
	log      log.Logger

	done      bool
	sentAt    int64 // height at which the last tx was sent, 0 if none
	nonceHint uint64
}

// step checks the record at height and sends the tx if it is needed and
// none is in flight.
func (p *publisher) step(ctx context.Context, height int64) error {
	if p.done {
		return nil
	}
	g, err := chainrpc.QueryMessage[pb.Gateway](ctx, p.chain, gatewayPath(p.hospital))
	if err != nil {
		return fmt.Errorf("publish gateway: %w", err)
	}
	if g != nil && g.Url == p.url && bytes.Equal(g.CertSha256, p.fp) {
		p.done = true
		p.log.Info("gateway published on chain", "hospital", p.hospital, "url", p.url,
			"cert_sha256", hex.EncodeToString(p.fp), "height", g.Height)
		return nil
	}
	if p.sentAt > 0 && height < p.sentAt+resendAfter {
		return nil // the tx sent is still on its way
	}
	acc, err := chainrpc.QueryMessage[pb.Account](ctx, p.chain, accountPath(p.addr))
	if err != nil {
		return fmt.Errorf("publish gateway: %w", err)
	}
	if acc == nil {
		return fmt.Errorf("publish gateway: operator %s has no account on chain", p.addr)
	}
	nonce := max(acc.Sequence, p.nonceHint)
	payload := &pb.SetGateway{Url: p.url, CertSha256: p.fp}
	for range 8 {
		raw, err := tx.Build(p.operator, p.chainID, p.addr, nonce, records.TypeSetGateway, payload)
		if err != nil {
			return fmt.Errorf("publish gateway: %w", err)
		}
		r, err := p.chain.Broadcast(ctx, raw)
		if err != nil {
			return fmt.Errorf("publish gateway: %w", err)
		}
		switch r.Code {
		case 0:
			p.sentAt, p.nonceHint = height, nonce+1
			p.log.Info("publishing the gateway on chain", "hospital", p.hospital, "url", p.url,
				"cert_sha256", hex.EncodeToString(p.fp), "nonce", nonce, "already_pending", r.InCache)
			return nil
		case codeNonceReplayed:
			nonce++ // another tx of the operator (the HE worker's) is ahead in the mempool
		case codeNonceSkipped:
			if acc, err = chainrpc.QueryMessage[pb.Account](ctx, p.chain, accountPath(p.addr)); err != nil || acc == nil {
				return fmt.Errorf("publish gateway: re-read account %s: %v", p.addr, err)
			}
			nonce, p.nonceHint = acc.Sequence, 0
		default:
			return fmt.Errorf("publish gateway: %s tx refused by CheckTx: code %d: %s", records.TypeSetGateway, r.Code, r.Log)
		}
	}
	return fmt.Errorf("publish gateway: no nonce accepted after 8 tries (account sequence %d)", acc.Sequence)
}
