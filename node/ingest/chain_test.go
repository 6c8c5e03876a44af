package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/medchain/medchain/node/chainrpc"
)

// flakyChain fails its first fails reads with err.
type flakyChain struct {
	Chain
	fails int
	err   error
	reads int
}

func (f *flakyChain) Query(context.Context, string) ([]byte, error) {
	if f.reads++; f.reads <= f.fails {
		return nil, f.err
	}
	return []byte("ok"), nil
}

func (f *flakyChain) Status(context.Context) (chainrpc.Status, error) {
	if f.reads++; f.reads <= f.fails {
		return chainrpc.Status{}, f.err
	}
	return chainrpc.Status{Height: 7}, nil
}

// TestReadsAreRetriedAfterATransportError: a dropped connection is tried
// again up to readRetries times; a refusal by the node is not.
func TestReadsAreRetriedAfterATransportError(t *testing.T) {
	dropped := fmt.Errorf("post failed: %w", &url.Error{Op: "Post", URL: "http://127.0.0.1:1", Err: io.EOF})
	refused := errors.New("query /x refused: code 3: unknown path")
	cases := []struct {
		name      string
		fails     int
		err       error
		wantReads int
		wantErr   bool
	}{
		{"no failure", 0, nil, 1, false},
		{"two dropped connections, then an answer", 2, dropped, 3, false},
		{"a bare EOF", 1, io.EOF, 2, false},
		{"dropped every time: gives up after readRetries", 100, dropped, readRetries, true},
		{"a refused connection", 1, fmt.Errorf("post failed: %w", &url.Error{Op: "Post", URL: "http://127.0.0.1:1", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}), 2, false},
		{"a refusal is not retried", 100, refused, 1, true},
		{"a malformed address is not retried", 100, &url.Error{Op: "Post", URL: "htp://x", Err: errors.New(`unsupported protocol scheme "htp"`)}, 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, read := range []string{"query", "status"} {
				f := &flakyChain{fails: tc.fails, err: tc.err}
				c := retryingReads{f, time.Millisecond}
				var err error
				if read == "query" {
					_, err = c.Query(context.Background(), "/x")
				} else {
					_, err = c.Status(context.Background())
				}
				if (err != nil) != tc.wantErr || f.reads != tc.wantReads {
					t.Fatalf("%s: err %v after %d reads; want error %v after %d", read, err, f.reads, tc.wantErr, tc.wantReads)
				}
			}
		})
	}
}
