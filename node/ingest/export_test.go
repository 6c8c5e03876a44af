package ingest

// The real-localnet test lives in package ingest_test because node/localnet
// imports this package; it reaches the shared test helpers through these.
var (
	ExpectFrom     = expectFrom
	VerifyImported = verifyImported
	WriteCohort    = writeCohort
)

// Records is how many records an expectation holds.
func (e *expected) Records() int { return len(e.records) }
