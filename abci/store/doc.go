// Package store is medchain's state store: an IAVL tree kept in Badger whose
// root hash is the app hash. The abci package calls the working-state methods
// (Get, Set, Delete, Iterator, WorkingHash) from FinalizeBlock, Commit from
// Commit, LastCommit from Info, and the committed views (GetAt, ProveAt,
// IteratorAt) from CheckTx and Query, which may run while a block executes.
// Clients check proofs with VerifyMembership and VerifyNonMembership.
//
// A block is atomic through a commit point. IAVL's SaveVersion writes a
// version through several Badger transactions, so a crash can leave it half
// on disk. Only after SaveVersion returns does Commit write one synced meta
// record (key 0xFF "medchain/meta", outside IAVL's 's','f','m','n','o','r'
// prefixes) holding {height, app hash}: that write is the commit. Open trusts
// the meta record alone: a newer IAVL version is a torn commit and is deleted
// (LoadVersionForOverwriting), an older one is corruption, and the loaded
// root hash must equal the recorded one. Pruning runs only after the meta
// write, so it never touches the version the meta record names.
//
// Snapshots serve CometBFT state sync. Every SnapshotOptions.Interval
// heights Commit pins the new version against pruning and a background
// goroutine exports it (iavl.Exporter) as chunk files under
// <Dir>/<height>/, written in a temporary folder then renamed; the newest
// KeepRecent are kept. The IAVL tree is all of the state: the meta record
// is derived from it. A new node restores one (BeginRestore, RestoreChunk)
// into its empty store with iavl.Importer, checking each chunk's SHA-256
// against the metadata and the final root against the light-client
// verified app hash. The format is documented in snapshot_format.go.
package store
