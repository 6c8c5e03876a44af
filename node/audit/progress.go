package audit

import (
	"fmt"
	"io"
	"time"
)

// progress writes a line every so many blocks or seconds during a replay.
type progress struct {
	w        io.Writer
	rep      *ReplayReport
	every    int64
	interval time.Duration
	start    time.Time
	lastAt   time.Time
	lastH    int64
}

func newProgress(o Options, rep *ReplayReport) *progress {
	p := &progress{w: o.Progress, rep: rep, every: o.ProgressBlocks, interval: o.ProgressEvery, start: time.Now()}
	if p.every <= 0 {
		p.every = 1000
	}
	if p.interval <= 0 {
		p.interval = 5 * time.Second
	}
	p.lastAt = p.start
	p.lastH = rep.From - 1
	return p
}

func (p *progress) tick(h int64) {
	if p.w == nil {
		return
	}
	now := time.Now()
	if h-p.lastH < p.every && now.Sub(p.lastAt) < p.interval {
		return
	}
	p.lastAt, p.lastH = now, h
	p.line(h, now)
}

func (p *progress) line(h int64, now time.Time) {
	el := now.Sub(p.start).Seconds()
	total := p.rep.To - p.rep.From + 1
	done := h - p.rep.From + 1
	var bps, tps float64
	if el > 0 {
		bps, tps = float64(p.rep.Heights)/el, float64(p.rep.Txs)/el
	}
	eta := "?"
	if bps > 0 {
		eta = (time.Duration(float64(total-done)/bps) * time.Second).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "audit replay: height %d of %d (%.1f%%), %d txs, %.0f blocks/s, %.0f tx/s, eta %s\n",
		h, p.rep.To, 100*float64(done)/float64(total), p.rep.Txs, bps, tps, eta)
}

func (p *progress) done() {
	if p.w == nil || p.lastH == p.rep.To {
		return
	}
	p.line(p.rep.To, time.Now())
}
