//go:build !unix

package ingest

// lockDir is a no-op where flock is missing: run one relay per spool.
func lockDir(string) (func(), error) { return func() {}, nil }
