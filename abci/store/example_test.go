package store_test

import (
	"fmt"
	"os"

	"github.com/medchain/medchain/abci/store"
)

// A block writes to the working state, commits it, and a client checks a
// value against the block's app hash with the proof a query returned.
func Example() {
	dir, err := os.MkdirTemp("", "medchain-store-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	s, err := store.Open(store.Options{Dir: dir, KeepRecent: 100})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	if err := s.Set([]byte("grant/alice/record-7"), []byte("read")); err != nil {
		fmt.Println(err)
		return
	}
	appHash, err := s.Commit(1)
	if err != nil {
		fmt.Println(err)
		return
	}

	value, proof, err := s.ProveAt(1, []byte("grant/alice/record-7"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("value %q\n", value)
	fmt.Println("proof verifies:", store.VerifyMembership(appHash, proof, []byte("grant/alice/record-7"), value) == nil)
	fmt.Println("forged value verifies:", store.VerifyMembership(appHash, proof, []byte("grant/alice/record-7"), []byte("write")) == nil)
	// Output:
	// value "read"
	// proof verifies: true
	// forged value verifies: false
}
