package hework

import (
	"context"
	"testing"
	"time"

	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	cmttypes "github.com/cometbft/cometbft/types"
)

// fakeEvents is an rpcclient.EventsClient with one subscription.
type fakeEvents struct {
	query string
	out   chan ctypes.ResultEvent
}

func (f *fakeEvents) Subscribe(_ context.Context, _, query string, _ ...int) (<-chan ctypes.ResultEvent, error) {
	f.query = query
	return f.out, nil
}
func (f *fakeEvents) Unsubscribe(context.Context, string, string) error { return nil }
func (f *fakeEvents) UnsubscribeAll(context.Context, string) error      { return nil }

func TestWatchBlocks(t *testing.T) {
	ev := &fakeEvents{out: make(chan ctypes.ResultEvent)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wake, err := WatchBlocks(ctx, ev, "test")
	if err != nil {
		t.Fatal(err)
	}
	if ev.query != cmttypes.EventQueryNewBlockHeader.String() {
		t.Fatalf("subscribed to %q", ev.query)
	}
	t.Run("blocks that arrive while the worker is busy coalesce into one wake-up and never block the bus", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			select {
			case ev.out <- ctypes.ResultEvent{}:
			case <-time.After(5 * time.Second):
				t.Fatal("the watcher blocked the event bus")
			}
		}
		time.Sleep(50 * time.Millisecond) // let it handle the last one
		select {
		case <-wake:
		case <-time.After(5 * time.Second):
			t.Fatal("no wake-up")
		}
		select {
		case <-wake:
			t.Fatal("a second wake-up for coalesced blocks")
		case <-time.After(50 * time.Millisecond):
		}
	})
}
