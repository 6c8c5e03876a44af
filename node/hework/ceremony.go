package hework

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/hekeys"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/he"
	"github.com/medchain/medchain/node/chainrpc"
	"github.com/medchain/medchain/node/keyring"
)

// ceremony is what the worker generated for one key epoch, as sealed in
// the keyring before anything was sent.
type ceremony struct {
	ownShare []byte           // the Shamir share this member dealt to itself
	payload  *pb.PostKeyShare // exactly what goes on chain
}

// ceremonyDuty takes this member (w.member, non-zero) through key epoch
// epoch, one it found open on chain: generate and seal its ceremony
// payload, commit to the SHA-256 of its public-key share, post the share
// once every member has committed (once, the same bytes on every resend),
// then, once the epoch is ready, open the shares the others sealed to it
// and combine its threshold secret. It returns nil while it is waiting for
// the others. Step runs it for every epoch separately.
func (w *Worker) ceremonyDuty(ctx context.Context, epoch uint64) error {
	if w.thresholds[epoch] != nil {
		return nil
	}
	if ts, err := w.loadThreshold(epoch); err != nil || ts != nil {
		delete(w.ceremonies, epoch) // its payload is on chain; free it
		return err
	}
	ep, err := chainrpc.QueryMessage[pb.KeyEpoch](ctx, w.cfg.Chain, epochPath(epoch))
	if err != nil {
		return err
	}
	if ep == nil || ep.Epoch != epoch {
		return fmt.Errorf("key epoch %d was open on chain and the node no longer returns it", epoch)
	}
	me, seals := w.member, w.seals
	if me == 0 || !slices.Contains(ep.Members, me) {
		w.log.Debug("HE worker: this member takes no part in the key epoch", "epoch", epoch, "member_index", me)
		return nil
	}
	duty := fmt.Sprintf("key_share/%d", epoch)
	commitDuty := fmt.Sprintf("key_commit/%d", epoch)
	rec, err := chainrpc.QueryMessage[pb.KeyShareRecord](ctx, w.cfg.Chain, keySharePath(epoch, me))
	if err != nil {
		return err
	}
	if rec == nil {
		if ep.Ready {
			return fmt.Errorf("key epoch %d is ready without a share of member %d", epoch, me)
		}
		if !slices.Contains(ep.Committed, me) {
			c, err := w.loadOrCreateCeremony(ep, me, seals)
			if err != nil {
				return err
			}
			_, err = w.send(ctx, commitDuty, hekeys.TypeKeyCommit, c.commit(w.cfg.ChainID, me))
			return err
		}
		delete(w.inflight, commitDuty)
		c, err := w.loadCeremony(epoch, me)
		if err != nil {
			return err
		}
		if c == nil {
			return fmt.Errorf("member %d committed to a key share for epoch %d, but its secret is not in this home's keyring (%s.secret): the share cannot be posted and the epoch cannot complete",
				me, epoch, ceremonyName(epoch))
		}
		onChain, err := w.cfg.Chain.Query(ctx, commitPath(epoch, me))
		if err != nil {
			return err
		}
		if own := c.commit(w.cfg.ChainID, me).Commitment; !bytes.Equal(onChain, own) {
			return fmt.Errorf("member %d's commitment on chain (%s) is not that of the key share in this home's keyring (%s)",
				me, shortHash(onChain), shortHash(own))
		}
		if len(ep.Committed) < len(ep.Members) {
			w.log.Debug("HE worker: waiting for the other members' commitments", "epoch", epoch, "committed", len(ep.Committed), "members", len(ep.Members))
			return nil
		}
		_, err = w.send(ctx, duty, hekeys.TypeKeyShare, c.payload)
		return err
	}
	delete(w.inflight, commitDuty)
	delete(w.inflight, duty)
	c, err := w.loadCeremony(epoch, me)
	if err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("member %d's key share for epoch %d is on chain, but its secret is not in this home's keyring (%s.secret): this member cannot decrypt in this epoch",
			me, epoch, ceremonyName(epoch))
	}
	if !bytes.Equal(rec.PublicKeyShareHash, blobHash(c.payload.PublicKeyShare)) {
		return fmt.Errorf("member %d's key share on chain (%s) is not the one in this home's keyring (%s)",
			me, shortHash(rec.PublicKeyShareHash), shortHash(blobHash(c.payload.PublicKeyShare)))
	}
	if !ep.Ready {
		w.log.Debug("HE worker: waiting for the other members' key shares", "epoch", epoch, "posted", len(ep.Posted), "members", len(ep.Members))
		return nil
	}
	return w.combine(ctx, ep, me, c)
}

// commit is the "he.key_commit" payload of c for member me of chainID
// (hekeys.Commitment of the public-key share it holds), so a restarted
// worker computes the same commitment from the sealed payload.
func (c *ceremony) commit(chainID string, me uint64) *pb.CommitKeyShare {
	return &pb.CommitKeyShare{Epoch: c.payload.Epoch, Commitment: hekeys.Commitment(chainID, c.payload.Epoch, me, c.payload.PublicKeyShare)}
}

// loadOrCreateCeremony returns the sealed ceremony of ep for member me,
// generating and sealing it first if there is none. Nothing is sent
// before it is sealed.
func (w *Worker) loadOrCreateCeremony(ep *pb.KeyEpoch, me uint64, seals map[uint64][]byte) (*ceremony, error) {
	if c, err := w.loadCeremony(ep.Epoch, me); err != nil || c != nil {
		return c, err
	}
	p := w.cfg.Params
	sk, err := p.GenSecretShare()
	if err != nil {
		return nil, err
	}
	skb, err := sk.MarshalBinary()
	if err != nil {
		return nil, err
	}
	pubShare, err := p.GenPublicKeyShare(sk, he.CRPSeed(w.cfg.ChainID, ep.Epoch))
	if err != nil {
		return nil, err
	}
	dealt, err := p.GenThresholdShares(sk, me, int(ep.Threshold), ep.Members)
	if err != nil {
		return nil, err
	}
	payload := &pb.PostKeyShare{Epoch: ep.Epoch, PublicKeyShare: pubShare}
	recipients := slices.Sorted(slices.Values(ep.Members))
	for _, m := range recipients {
		if m == me {
			continue
		}
		sealed, err := sealTo(seals[m], dealt[m])
		if err != nil {
			return nil, fmt.Errorf("seal the share of member %d: %w", m, err)
		}
		payload.Shares = append(payload.Shares, &pb.SealedShare{Recipient: m, Sealed: sealed})
	}
	pl, err := proto.MarshalOptions{Deterministic: true}.Marshal(payload)
	if err != nil {
		return nil, err
	}
	r := &record{Kind: kindCeremony, ChainID: w.cfg.ChainID, Epoch: ep.Epoch, ID: me, Fields: [][]byte{skb, dealt[me], pl}}
	raw, err := r.encode()
	if err != nil {
		return nil, err
	}
	err = w.cfg.Secrets.SealData(ceremonyName(ep.Epoch), raw)
	clear(raw)
	clear(skb)
	if errors.Is(err, keyring.ErrDataExists) {
		return w.loadCeremony(ep.Epoch, me) // sealed meanwhile: use that one
	}
	if err != nil {
		return nil, fmt.Errorf("seal the key share before sending it: %w", err)
	}
	w.log.Info("HE worker: generated this member's key share and sealed it in the keyring", "epoch", ep.Epoch,
		"member_index", me, "threshold", ep.Threshold, "members", fmt.Sprint(ep.Members),
		"public_key_share", shortHash(blobHash(pubShare)), "secret", ceremonyName(ep.Epoch))
	return w.loadCeremony(ep.Epoch, me)
}

// loadCeremony reads the sealed ceremony of epoch; nil if there is none.
func (w *Worker) loadCeremony(epoch, me uint64) (*ceremony, error) {
	if c := w.ceremonies[epoch]; c != nil {
		return c, nil
	}
	r, err := w.openRecord(ceremonyName(epoch))
	if err != nil || r == nil {
		return nil, err
	}
	if err := r.check(kindCeremony, w.cfg.ChainID, epoch, me); err != nil {
		return nil, fmt.Errorf("%s: %w", ceremonyName(epoch), err)
	}
	var payload pb.PostKeyShare
	if err := tx.Unmarshal(r.Fields[2], &payload); err != nil || payload.Epoch != epoch {
		return nil, fmt.Errorf("%s: %w: its payload does not decode (%v)", ceremonyName(epoch), errBadRecord, err)
	}
	clear(r.Fields[0]) // the secret share itself is not needed once dealt
	c := &ceremony{ownShare: r.Fields[1], payload: &payload}
	w.ceremonies[epoch] = c
	return c, nil
}

// combine opens the Shamir share every other member sealed to this one,
// adds its own, and seals the resulting threshold secret.
func (w *Worker) combine(ctx context.Context, ep *pb.KeyEpoch, me uint64, c *ceremony) error {
	p := w.cfg.Params
	received := map[uint64][]byte{me: c.ownShare}
	for _, d := range ep.Members {
		if d == me {
			continue
		}
		rec, err := chainrpc.QueryMessage[pb.KeyShareRecord](ctx, w.cfg.Chain, keySharePath(ep.Epoch, d))
		if err != nil {
			return err
		}
		if rec == nil {
			return fmt.Errorf("key epoch %d is ready but member %d's key share is not on chain", ep.Epoch, d)
		}
		var ref *pb.SealedShareRef
		for _, s := range rec.Shares {
			if s.Recipient == me {
				ref = s
			}
		}
		if ref == nil {
			return fmt.Errorf("member %d sealed no share to member %d in epoch %d", d, me, ep.Epoch)
		}
		sealed, err := queryBlob(ctx, w.cfg.Chain, ref.Hash)
		if err != nil {
			return fmt.Errorf("member %d's sealed share: %w", d, err)
		}
		share, err := w.openSealed(sealed)
		if err != nil {
			return fmt.Errorf("member %d's share: %w", d, err)
		}
		if err := p.ValidateThresholdShare(share); err != nil {
			return fmt.Errorf("member %d's share: %w", d, err)
		}
		received[d] = share
	}
	ts, err := p.CombineThresholdShares(me, int(ep.Threshold), received)
	for d, s := range received {
		if d != me {
			clear(s)
		}
	}
	if err != nil {
		return fmt.Errorf("combine the threshold secret of epoch %d: %w", ep.Epoch, err)
	}
	tsb, err := ts.MarshalBinary()
	if err != nil {
		return err
	}
	r := &record{Kind: kindThreshold, ChainID: w.cfg.ChainID, Epoch: ep.Epoch, ID: me, Fields: [][]byte{tsb}}
	raw, err := r.encode()
	if err != nil {
		return err
	}
	err = w.cfg.Secrets.SealData(thresholdName(ep.Epoch), raw)
	clear(raw)
	clear(tsb)
	if err != nil && !errors.Is(err, keyring.ErrDataExists) {
		return fmt.Errorf("seal the threshold secret: %w", err)
	}
	w.log.Info("HE worker: combined this member's threshold secret and sealed it in the keyring", "epoch", ep.Epoch,
		"member_index", me, "threshold", ep.Threshold, "members", fmt.Sprint(ep.Members), "secret", thresholdName(ep.Epoch))
	_, err = w.loadThreshold(ep.Epoch)
	return err
}

// loadThreshold reads the sealed threshold secret of epoch into the cache;
// nil if there is none yet.
func (w *Worker) loadThreshold(epoch uint64) (*he.ThresholdSecret, error) {
	if ts := w.thresholds[epoch]; ts != nil {
		return ts, nil
	}
	r, err := w.openRecord(thresholdName(epoch))
	if err != nil || r == nil {
		return nil, err
	}
	if err := r.check(kindThreshold, w.cfg.ChainID, epoch, r.ID); err != nil {
		return nil, fmt.Errorf("%s: %w", thresholdName(epoch), err)
	}
	ts, err := w.cfg.Params.UnmarshalThresholdSecret(r.Fields[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", thresholdName(epoch), err)
	}
	if ts.Index() != r.ID {
		return nil, fmt.Errorf("%s: %w: it is member %d's, the record says %d", thresholdName(epoch), errBadRecord, ts.Index(), r.ID)
	}
	w.thresholds[epoch] = ts
	w.log.Info("HE worker: threshold secret loaded", "epoch", epoch, "member_index", ts.Index(), "threshold", ts.Threshold())
	return ts, nil
}

// openRecord opens and decodes the sealed record name; nil if absent.
func (w *Worker) openRecord(name string) (*record, error) {
	raw, err := w.cfg.Secrets.OpenData(name)
	if errors.Is(err, keyring.ErrDataNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	r, err := decodeRecord(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}
