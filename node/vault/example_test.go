package vault_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/medchain/medchain/node/recordcrypto"
	"github.com/medchain/medchain/node/vault"
)

// A custodian stores a record it encrypted, serves it, then erases it.
func Example() {
	home, _ := os.MkdirTemp("", "medchain-home")
	defer os.RemoveAll(home)
	if err := vault.EnsureKeys(home); err != nil { // at init
		panic(err)
	}
	v, err := vault.Open(home)
	if err != nil {
		panic(err)
	}
	defer v.Close()

	id := []byte("rec-0001")
	key, _ := recordcrypto.NewDataKey()
	ct, _ := recordcrypto.EncryptRecord(key, id, []byte(`{"resourceType":"Bundle"}`))
	_, custodianPub := recordcrypto.SealKeyPair([32]byte{1}) // the hospital's seal key
	sealed, _ := recordcrypto.SealKey(key, id, custodianPub)
	if err := v.Put(id, ct, sealed); err != nil {
		panic(err)
	}

	got, _, err := v.Get(id)
	fmt.Println(len(got) == len(ct), err)
	if err := v.Erase(id); err != nil {
		panic(err)
	}
	_, _, err = v.Get(id)
	fmt.Println(errors.Is(err, vault.ErrErased))
	// Output:
	// true <nil>
	// true
}
