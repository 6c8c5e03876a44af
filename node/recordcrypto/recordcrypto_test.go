package recordcrypto_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"golang.org/x/crypto/curve25519"

	"github.com/medchain/medchain/node/recordcrypto"
)

func mustKey(t testing.TB) [32]byte {
	t.Helper()
	k, err := recordcrypto.NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyPair(t testing.TB) (priv, pub [32]byte) {
	t.Helper()
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		t.Fatal(err)
	}
	return recordcrypto.SealKeyPair(seed)
}

func TestNewDataKeyIsFreshEachTime(t *testing.T) {
	a, b := mustKey(t), mustKey(t)
	if a == b || a == ([32]byte{}) {
		t.Fatalf("two data keys are equal or zero: %x %x", a, b)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	key := mustKey(t)
	id := []byte("rec-0001")
	for _, tc := range []struct {
		name      string
		plaintext []byte
	}{
		{"an empty record round-trips", []byte{}},
		{"a small FHIR bundle round-trips", []byte(`{"resourceType":"Bundle","type":"collection"}`)},
		{"a 1 MiB record round-trips", bytes.Repeat([]byte("x"), 1<<20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct, err := recordcrypto.EncryptRecord(key, id, tc.plaintext)
			if err != nil {
				t.Fatal(err)
			}
			if len(ct) != len(tc.plaintext)+recordcrypto.RecordOverhead {
				t.Fatalf("ciphertext is %d bytes, want %d", len(ct), len(tc.plaintext)+recordcrypto.RecordOverhead)
			}
			pt, err := recordcrypto.DecryptRecord(key, id, ct)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pt, tc.plaintext) {
				t.Fatal("plaintext differs after a round trip")
			}
		})
	}
}

func TestEncryptRecordIsRandomised(t *testing.T) {
	key := mustKey(t)
	a, _ := recordcrypto.EncryptRecord(key, []byte("r"), []byte("same"))
	b, _ := recordcrypto.EncryptRecord(key, []byte("r"), []byte("same"))
	if bytes.Equal(a, b) {
		t.Fatal("two encryptions of the same record are equal: the nonce is not random")
	}
	if recordcrypto.ContentHash(a) == recordcrypto.ContentHash(b) {
		t.Fatal("content hashes of different ciphertexts are equal")
	}
}

func TestDecryptRecordRefuses(t *testing.T) {
	key := mustKey(t)
	id := []byte("rec-0001")
	pt := []byte(`{"resourceType":"Bundle"}`)
	ct, err := recordcrypto.EncryptRecord(key, id, pt)
	if err != nil {
		t.Fatal(err)
	}
	other := mustKey(t)
	for _, tc := range []struct {
		name string
		key  [32]byte
		id   []byte
		ct   []byte
		want error
	}{
		{"a wrong data key fails authentication", other, id, ct, recordcrypto.ErrAuthentication},
		{"another record id fails authentication", key, []byte("rec-0002"), ct, recordcrypto.ErrAuthentication},
		{"a record id prefix fails authentication", key, id[:len(id)-1], ct, recordcrypto.ErrAuthentication},
		{"a truncated tag fails authentication", key, id, ct[:len(ct)-1], recordcrypto.ErrAuthentication},
		{"a ciphertext shorter than nonce and tag is malformed", key, id, ct[:recordcrypto.RecordOverhead-1], recordcrypto.ErrMalformed},
		{"an empty ciphertext is malformed", key, id, nil, recordcrypto.ErrMalformed},
		{"an empty record id is refused", key, nil, ct, recordcrypto.ErrRecordID},
		{"an oversized record id is refused", key, make([]byte, recordcrypto.MaxRecordIDSize+1), ct, recordcrypto.ErrRecordID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := recordcrypto.DecryptRecord(tc.key, tc.id, tc.ct)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// Flipping any bit of any region (nonce, body, tag) must fail.
func TestDecryptRecordDetectsTamperingAnywhere(t *testing.T) {
	key := mustKey(t)
	id := []byte("rec-0001")
	ct, _ := recordcrypto.EncryptRecord(key, id, []byte("0123456789abcdef0123"))
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		if _, err := recordcrypto.DecryptRecord(key, id, bad); !errors.Is(err, recordcrypto.ErrAuthentication) {
			t.Fatalf("byte %d of %d altered: got %v, want authentication failure", i, len(ct), err)
		}
	}
}

func TestSealKeyPairMatchesCurve25519(t *testing.T) {
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(i * 7)
	}
	priv, pub := recordcrypto.SealKeyPair(seed)
	want, err := curve25519.X25519(seed[:], curve25519.Basepoint)
	if err != nil {
		t.Fatal(err)
	}
	if priv != seed || !bytes.Equal(pub[:], want) {
		t.Fatalf("SealKeyPair differs from curve25519.X25519(seed, Basepoint)")
	}
}

func TestSealKeyRoundTrip(t *testing.T) {
	key := mustKey(t)
	id := []byte("rec-0001")
	patientPriv, patientPub := keyPair(t)
	custodianPriv, custodianPub := keyPair(t)
	for _, tc := range []struct {
		name string
		priv [32]byte
		pub  [32]byte
	}{
		{"the patient opens the key sealed to the patient", patientPriv, patientPub},
		{"the custodian opens the key sealed to the custodian", custodianPriv, custodianPub},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sealed, err := recordcrypto.SealKey(key, id, tc.pub)
			if err != nil {
				t.Fatal(err)
			}
			if len(sealed) != recordcrypto.SealedKeySize {
				t.Fatalf("sealed key is %d bytes, want %d", len(sealed), recordcrypto.SealedKeySize)
			}
			got, err := recordcrypto.OpenKey(sealed, id, tc.priv)
			if err != nil {
				t.Fatal(err)
			}
			if got != key {
				t.Fatal("opened key differs")
			}
		})
	}
	a, _ := recordcrypto.SealKey(key, id, patientPub)
	b, _ := recordcrypto.SealKey(key, id, patientPub)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of one key are equal: sealing is not randomised")
	}
}

func TestOpenKeyRefuses(t *testing.T) {
	key := mustKey(t)
	id := []byte("rec-0001")
	priv, pub := keyPair(t)
	otherPriv, _ := keyPair(t)
	sealed, err := recordcrypto.SealKey(key, id, pub)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		sealed []byte
		id     []byte
		priv   [32]byte
		want   error
	}{
		{"another recipient cannot open it", sealed, id, otherPriv, recordcrypto.ErrAuthentication},
		{"it does not open for another record id", sealed, []byte("rec-0002"), priv, recordcrypto.ErrAuthentication},
		{"a truncated sealed key is malformed", sealed[:len(sealed)-1], id, priv, recordcrypto.ErrMalformed},
		{"an extended sealed key is malformed", append(bytes.Clone(sealed), 0), id, priv, recordcrypto.ErrMalformed},
		{"an empty record id is refused", sealed, nil, priv, recordcrypto.ErrRecordID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := recordcrypto.OpenKey(tc.sealed, tc.id, tc.priv)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// Every region: the encapsulated key (0..31), the sealed data key
	// (32..63) and the tag (64..79).
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x80
		if _, err := recordcrypto.OpenKey(bad, id, priv); !errors.Is(err, recordcrypto.ErrAuthentication) {
			t.Fatalf("byte %d altered: got %v, want authentication failure", i, err)
		}
	}
}

func TestSealKeyRefusesLowOrderPublicKey(t *testing.T) {
	if _, err := recordcrypto.SealKey(mustKey(t), []byte("r"), [32]byte{}); err == nil {
		t.Fatal("sealing to the all-zero public key succeeded")
	}
}

func FuzzDecryptRecord(f *testing.F) {
	key := [32]byte{1}
	ct, _ := recordcrypto.EncryptRecord(key, []byte("r"), []byte("seed"))
	f.Add([]byte("r"), ct)
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, id, ct []byte) {
		pt, err := recordcrypto.DecryptRecord(key, id, ct)
		if err == nil && (len(pt) != len(ct)-recordcrypto.RecordOverhead) {
			t.Fatalf("decrypted %d bytes from %d", len(pt), len(ct))
		}
	})
}

func FuzzOpenKey(f *testing.F) {
	priv, pub := recordcrypto.SealKeyPair([32]byte{2})
	sealed, _ := recordcrypto.SealKey([32]byte{3}, []byte("r"), pub)
	f.Add([]byte("r"), sealed)
	f.Add([]byte("r"), make([]byte, recordcrypto.SealedKeySize))
	f.Fuzz(func(t *testing.T, id, sealed []byte) {
		_, _ = recordcrypto.OpenKey(sealed, id, priv)
	})
}
