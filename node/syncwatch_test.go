package node

import (
	"testing"
	"time"
)

func TestSyncWatchReportsAStalledSyncOnce(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	type look struct {
		at      time.Time
		syncing bool
		height  int64
		want    time.Duration // 0: no report
	}
	for _, tc := range []struct {
		name  string
		looks []look
	}{
		{"a sync that moves is never reported", []look{
			{at(0), true, 10, 0}, {at(time.Minute), true, 20, 0}, {at(3 * time.Minute), true, 30, 0}, {at(5 * time.Minute), true, 40, 0},
		}},
		{"a caught-up node is never reported, however still its height", []look{
			{at(0), false, 10, 0}, {at(10 * time.Minute), false, 10, 0},
		}},
		{"a stall is reported once it lasts syncStallAfter, then once only", []look{
			{at(0), true, 10, 0}, {at(time.Minute), true, 10, 0}, {at(syncStallAfter), true, 10, syncStallAfter},
			{at(10 * time.Minute), true, 10, 0},
		}},
		{"progress ends a stall; a new stall is reported again", []look{
			{at(0), true, 10, 0}, {at(3 * time.Minute), true, 10, 3 * time.Minute},
			{at(4 * time.Minute), true, 11, 0}, {at(5 * time.Minute), true, 11, 0}, {at(7 * time.Minute), true, 11, 3 * time.Minute},
		}},
		{"leaving block sync resets the watch", []look{
			{at(0), true, 10, 0}, {at(time.Minute), false, 10, 0}, {at(2 * time.Minute), true, 10, 0}, {at(3 * time.Minute), true, 10, 0},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w syncWatch
			for i, l := range tc.looks {
				if got := w.observe(l.at, l.syncing, l.height); got != l.want {
					t.Fatalf("look %d (at +%s, syncing %v, height %d): reported %s, want %s", i, l.at.Sub(t0), l.syncing, l.height, got, l.want)
				}
			}
		})
	}
}
