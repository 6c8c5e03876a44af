package ingest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// CrashEnv names the test hook that kills `medchain ingest` at a chosen point,
// as SIGKILL would (os.Exit(137): no deferred clean-up, nothing flushed), so
// that tests can prove a rerun neither duplicates nor loses records. Unset, it
// does nothing. Its value is STAGE:N, exiting right after the Nth event of
// STAGE:
//
//	vault:N   a record was put in the vault, its spool line not yet written
//	read:N    at least N spool entries are fsync'd (checked per patient)
//	push:N    a tx was accepted into the mempool, its commit not yet seen
//	commit:N  at least N txs were seen committed, pushed.jsonl not yet written
const CrashEnv = "MEDCHAIN_INGEST_CRASH_AFTER"

// crashHook counts the events of one stage; the zero value is inactive.
type crashHook struct {
	stage string
	after int
	seen  int
}

func crashHookFromEnv() (*crashHook, error) {
	v, ok := os.LookupEnv(CrashEnv)
	if !ok || v == "" {
		return &crashHook{}, nil
	}
	stage, num, _ := strings.Cut(v, ":")
	n, err := strconv.Atoi(num)
	switch {
	case stage != "vault" && stage != "read" && stage != "push" && stage != "commit":
		return nil, fmt.Errorf("%s=%q: the stage must be vault, read, push or commit", CrashEnv, v)
	case err != nil || n < 1:
		return nil, fmt.Errorf("%s=%q: N must be a positive number", CrashEnv, v)
	}
	return &crashHook{stage: stage, after: n}, nil
}

// hit counts n events of stage and exits the process once the count reaches
// the hook's N.
func (h *crashHook) hit(stage string, n int) {
	if h.stage != stage || n <= 0 {
		return
	}
	h.seen += n
	if h.seen >= h.after {
		fmt.Fprintf(os.Stderr, "%s: crashing after %s:%d\n", CrashEnv, stage, h.seen)
		os.Exit(137)
	}
}
