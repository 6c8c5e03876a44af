package hework

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/hekeys"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node/chainrpc"
	"github.com/medchain/medchain/node/keyring"
)

// pruneEvery is how often (in blocks) the worker deletes the key-switching
// shares of requests that are over.
const pruneEvery = 100

// requestsDuty posts this member's key-switching share to every pending
// decryption request whose active set names it and that lacks its share,
// made with its threshold secret of the request's key epoch. Each request
// is its own duty, with its own back-off.
func (w *Worker) requestsDuty(ctx context.Context) error {
	list, err := chainrpc.QueryMessage[pb.DecryptionRequestList](ctx, w.cfg.Chain, pendingPath)
	if err != nil {
		return err
	}
	if list == nil {
		list = &pb.DecryptionRequestList{}
	}
	w.forgetFinished(list.Requests)
	if len(list.Requests) == 0 {
		return nil
	}
	me := w.member
	for _, req := range list.Requests {
		if req.Status != pb.DecryptionRequest_STATUS_PENDING || !slices.Contains(req.ActiveSet, me) {
			continue
		}
		// The contract draws active sets from the request's epoch's members;
		// a member that holds no share of that epoch could answer nothing.
		if in, err := w.inEpoch(ctx, req.Epoch, me); err != nil {
			return err
		} else if !in {
			w.log.Debug("HE worker: a request's active set names this member, which is not a member of its key epoch; skipped",
				"request", req.Id, "epoch", req.Epoch, "member_index", me)
			continue
		}
		duty := fmt.Sprintf("ks_share/%d", req.Id)
		if slices.Contains(req.Posted, me) {
			delete(w.inflight, duty)
			delete(w.ksShares, req.Id)
			continue
		}
		if w.height >= req.DeadlineHeight {
			// A tx now lands in block height+1 at the earliest: too late.
			if _, ok := w.inflight[duty]; ok {
				delete(w.inflight, duty)
				w.log.Error("HE worker: decryption request passed its deadline before this member's share landed",
					"request", req.Id, "deadline_height", req.DeadlineHeight, "height", w.height)
			}
			continue
		}
		if w.holdShares {
			w.log.Info("HE worker: holding this member's share (fault hook "+FaultHoldSharesEnv+" is set)", "request", req.Id)
			continue
		}
		w.duty(ctx, fmt.Sprintf("request/%d", req.Id), func(ctx context.Context) error {
			payload, err := w.loadOrCreateKS(ctx, req, me)
			if err != nil {
				return err
			}
			_, err = w.send(ctx, duty, hekeys.TypeKSShare, payload)
			return err
		})
	}
	return nil
}

// forgetFinished drops what the worker remembers of requests that are no
// longer pending: txs in flight, back-off and cached shares.
func (w *Worker) forgetFinished(pending []*pb.DecryptionRequest) {
	live := map[uint64]bool{}
	for _, r := range pending {
		live[r.Id] = true
	}
	for id := range w.ksShares {
		if !live[id] {
			delete(w.ksShares, id)
		}
	}
	for k := range w.inflight {
		var id uint64
		if _, err := fmt.Sscanf(k, "ks_share/%d", &id); err == nil && !live[id] {
			delete(w.inflight, k)
		}
	}
	for k := range w.backoff {
		var id uint64
		if _, err := fmt.Sscanf(k, "request/%d", &id); err == nil && !live[id] {
			delete(w.backoff, k)
		}
	}
}

// loadOrCreateKS returns this member's sealed key-switching share for req,
// generating and sealing it first if there is none. Nothing is sent before
// it is sealed, and an existing share is never replaced.
func (w *Worker) loadOrCreateKS(ctx context.Context, req *pb.DecryptionRequest, me uint64) (*pb.PostKeySwitchShare, error) {
	name := ksName(req.Id)
	if pl, err := w.loadKS(req); err != nil || pl != nil {
		return pl, err
	}
	ts, err := w.loadThreshold(req.Epoch)
	if err != nil {
		return nil, err
	}
	if ts == nil {
		return nil, fmt.Errorf("request %d is for key epoch %d, for which this member has no threshold secret (yet)", req.Id, req.Epoch)
	}
	if req.Public == (len(req.TargetKeyHash) != 0) {
		return nil, fmt.Errorf("request %d: public = %v but researcher key hash %q: the chain sent an inconsistent request", req.Id, req.Public, shortHash(req.TargetKeyHash))
	}
	agg, err := queryBlob(ctx, w.cfg.Chain, req.AggregateHash)
	if err != nil {
		return nil, fmt.Errorf("request %d aggregate: %w", req.Id, err)
	}
	p := w.cfg.Params
	if err := p.ValidateCiphertext(agg); err != nil {
		return nil, fmt.Errorf("request %d aggregate: %w", req.Id, err)
	}
	var share []byte
	if req.Public {
		// A decryption share: the sum becomes public once t are in.
		if share, err = p.GenDecryptShare(ts, req.ActiveSet, agg); err != nil {
			return nil, fmt.Errorf("request %d: %w", req.Id, err)
		}
	} else {
		target, err := queryBlob(ctx, w.cfg.Chain, req.TargetKeyHash)
		if err != nil {
			return nil, fmt.Errorf("request %d researcher key: %w", req.Id, err)
		}
		if err := p.ValidateResearcherKey(target); err != nil {
			return nil, fmt.Errorf("request %d researcher key: %w", req.Id, err)
		}
		if share, err = p.GenKeySwitchShare(ts, req.ActiveSet, agg, target); err != nil {
			return nil, fmt.Errorf("request %d: %w", req.Id, err)
		}
	}
	payload := &pb.PostKeySwitchShare{Request: req.Id, Share: share}
	pl, err := proto.MarshalOptions{Deterministic: true}.Marshal(payload)
	if err != nil {
		return nil, err
	}
	r := &record{Kind: kindKS, ChainID: w.cfg.ChainID, Epoch: req.Epoch, ID: req.Id, Fields: [][]byte{pl}}
	raw, err := r.encode()
	if err != nil {
		return nil, err
	}
	err = w.cfg.Secrets.SealData(name, raw)
	if errors.Is(err, keyring.ErrDataExists) {
		return w.loadKS(req)
	}
	if err != nil {
		return nil, fmt.Errorf("seal the key-switching share before sending it: %w", err)
	}
	w.log.Info("HE worker: generated this member's key-switching share and sealed it in the keyring",
		"request", req.Id, "public", req.Public, "epoch", req.Epoch, "active_set", fmt.Sprint(req.ActiveSet),
		"aggregate", shortHash(req.AggregateHash), "deadline_height", req.DeadlineHeight, "secret", name)
	return w.loadKS(req)
}

// loadKS reads the sealed share of req; nil if there is none.
func (w *Worker) loadKS(req *pb.DecryptionRequest) (*pb.PostKeySwitchShare, error) {
	if pl := w.ksShares[req.Id]; pl != nil {
		return pl, nil
	}
	name := ksName(req.Id)
	r, err := w.openRecord(name)
	if err != nil || r == nil {
		return nil, err
	}
	if err := r.check(kindKS, w.cfg.ChainID, req.Epoch, req.Id); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var payload pb.PostKeySwitchShare
	if err := tx.Unmarshal(r.Fields[0], &payload); err != nil || payload.Request != req.Id {
		return nil, fmt.Errorf("%s: %w: its payload does not decode (%v)", name, errBadRecord, err)
	}
	w.ksShares[req.Id] = &payload
	return &payload, nil
}

// prune deletes the sealed key-switching shares of requests that are done
// or failed: they are on chain (or useless) and never needed again.
func (w *Worker) prune(ctx context.Context) error {
	names, err := w.cfg.Secrets.ListData()
	if err != nil {
		return err
	}
	for _, name := range names {
		id, ok := parseKSName(name)
		if !ok {
			continue
		}
		req, err := chainrpc.QueryMessage[pb.DecryptionRequest](ctx, w.cfg.Chain, requestPath(id))
		if err != nil {
			return err
		}
		if req == nil || (req.Status != pb.DecryptionRequest_STATUS_DONE && req.Status != pb.DecryptionRequest_STATUS_FAILED) {
			continue
		}
		if err := w.cfg.Secrets.DeleteData(name); err != nil && !errors.Is(err, keyring.ErrDataNotFound) {
			return err
		}
		delete(w.ksShares, id)
		w.log.Info("HE worker: deleted the share of a finished request", "request", id, "status", req.Status.String())
	}
	w.lastPrune = w.height
	return nil
}
