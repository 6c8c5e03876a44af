package node

import (
	"time"
)

// syncStallAfter is how long block sync may go without applying a block
// before the node reports it stuck.
const syncStallAfter = 2 * time.Minute

// syncWatch notices a block sync that stopped making progress.
//
// CometBFT v0.38.26's block sync can hang for good: when a peer it asked
// for a block times out (15 s without data, which a busy peer on a small
// machine can hit), a requester whose retry timer already fired blocks on
// receiving from that timer again (blocksync/pool.go:920, `<-retryTimer.C`),
// and the pool never gets past that height. The node then stays
// "catching_up" while the others go on; restarting it resumes the sync. We
// cannot fix the pinned CometBFT, so the node says so in its log.
type syncWatch struct {
	height  int64     // block store height at the last progress
	since   time.Time // when it was last seen to move
	syncing bool      // in block sync at the last look
	warned  bool      // the current stall is reported
}

// observe records one look at the node at now: whether it is still in
// block sync, and its block store height. It returns how long the sync
// has been stuck when that deserves a report (once per stall), else 0.
func (w *syncWatch) observe(now time.Time, syncing bool, height int64) time.Duration {
	if !syncing || !w.syncing || height != w.height {
		w.height, w.since, w.syncing, w.warned = height, now, syncing, false
		return 0
	}
	stuck := now.Sub(w.since)
	if w.warned || stuck < syncStallAfter {
		return 0
	}
	w.warned = true
	return stuck
}

// watchSync checks block sync every interval until stop is closed, and
// logs an error when it is stuck (see syncWatch).
func (n *Node) watchSync(stop <-chan struct{}, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var w syncWatch
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			syncing := n.cmt.ConsensusReactor().WaitSync()
			h := n.cmt.BlockStore().Height()
			if stuck := w.observe(now, syncing, h); stuck > 0 {
				n.logger.Error("block sync has not applied a block for a while; restart this node to resume it (a known CometBFT v0.38 block sync hang, see docs/OPERATIONS.md)",
					"height", h, "stuck_for", stuck.Round(time.Second).String())
			}
		}
	}
}
