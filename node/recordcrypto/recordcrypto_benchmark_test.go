package recordcrypto_test

import (
	"testing"

	"github.com/medchain/medchain/node/recordcrypto"
)

func BenchmarkEncryptRecord64KiB(b *testing.B) {
	key := mustKey(b)
	pt := make([]byte, 64<<10)
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		if _, err := recordcrypto.EncryptRecord(key, []byte("rec-1"), pt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecryptRecord64KiB(b *testing.B) {
	key := mustKey(b)
	ct, _ := recordcrypto.EncryptRecord(key, []byte("rec-1"), make([]byte, 64<<10))
	b.SetBytes(int64(len(ct)))
	for b.Loop() {
		if _, err := recordcrypto.DecryptRecord(key, []byte("rec-1"), ct); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSealKey(b *testing.B) {
	key := mustKey(b)
	_, pub := keyPair(b)
	for b.Loop() {
		if _, err := recordcrypto.SealKey(key, []byte("rec-1"), pub); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenKey(b *testing.B) {
	priv, pub := keyPair(b)
	sealed, _ := recordcrypto.SealKey(mustKey(b), []byte("rec-1"), pub)
	for b.Loop() {
		if _, err := recordcrypto.OpenKey(sealed, []byte("rec-1"), priv); err != nil {
			b.Fatal(err)
		}
	}
}
