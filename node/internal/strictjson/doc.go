// Package strictjson decodes the JSON files and entries the node writes
// for itself (spool lines, vault entries, keyring files) strictly: exactly
// one JSON value, no field the Go type does not have, nothing after it.
// A file that does not pass was not written by this medchain, or is
// damaged, and is refused rather than half read.
package strictjson
