package recordcrypto_test

import (
	"fmt"

	"github.com/medchain/medchain/node/recordcrypto"
)

// The custodian encrypts a record, registers its content hash and the data
// key sealed to the patient; the patient opens the key and decrypts.
func Example() {
	patientPriv, patientPub := recordcrypto.SealKeyPair([32]byte{42}) // a real seed is random
	id := []byte("rec-0001")

	key, _ := recordcrypto.NewDataKey()
	ct, _ := recordcrypto.EncryptRecord(key, id, []byte(`{"resourceType":"Bundle"}`))
	_ = recordcrypto.ContentHash(ct) // goes on chain
	sealed, _ := recordcrypto.SealKey(key, id, patientPub)

	opened, _ := recordcrypto.OpenKey(sealed, id, patientPriv)
	pt, err := recordcrypto.DecryptRecord(opened, id, ct)
	fmt.Println(string(pt), err, len(sealed))
	// Output: {"resourceType":"Bundle"} <nil> 80
}
