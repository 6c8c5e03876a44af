package store

import (
	"fmt"
	"strings"

	"github.com/cosmos/iavl"
)

// Logger receives the store's own log lines (start-up, recovery, pruning
// failures) and Badger's warnings and errors. key/value pairs follow msg, as
// in CometBFT's and the Cosmos SDK's loggers, which both satisfy it.
type Logger interface {
	Info(msg string, kv ...any)
	Error(msg string, kv ...any)
}

type nopLogger struct{}

func (nopLogger) Info(string, ...any)  {}
func (nopLogger) Error(string, ...any) {}

// iavlLogger routes IAVL's logger to ours; Debug is dropped, Warn goes to
// Info with level=warn.
type iavlLogger struct{ lg Logger }

var _ iavl.Logger = iavlLogger{}

func (l iavlLogger) Info(msg string, kv ...any)  { l.lg.Info("iavl: "+msg, kv...) }
func (l iavlLogger) Error(msg string, kv ...any) { l.lg.Error("iavl: "+msg, kv...) }
func (l iavlLogger) Debug(string, ...any)        {}
func (l iavlLogger) Warn(msg string, kv ...any) {
	l.lg.Info("iavl: "+msg, append([]any{"level", "warn"}, kv...)...)
}

// badgerLogger routes Badger's warnings and errors to ours and drops its
// (chatty) info and debug lines.
type badgerLogger struct{ lg Logger }

func (l badgerLogger) Errorf(f string, a ...any) {
	l.lg.Error("badger: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
}

func (l badgerLogger) Warningf(f string, a ...any) {
	l.lg.Info("badger: "+strings.TrimSpace(fmt.Sprintf(f, a...)), "level", "warn")
}

func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}
