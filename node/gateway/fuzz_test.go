package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadResult: whatever a (hostile) gateway answers, the client neither
// panics nor returns a result whose ciphertext does not match its hash or
// whose key source and sealed key disagree.
func FuzzReadResult(f *testing.F) {
	ct := bytes.Repeat([]byte{7}, 40)
	h := sha256.Sum256(ct)
	ok, _ := json.Marshal(fetchResponse{Ciphertext: ct, ContentHash: hex.EncodeToString(h[:]), KeySource: KeySourceGrant})
	f.Add(ok)
	withKey, _ := json.Marshal(fetchResponse{Ciphertext: ct, ContentHash: hex.EncodeToString(h[:]), KeySource: KeySourceCustodian, SealedKey: make([]byte, 80)})
	f.Add(withKey)
	f.Add([]byte(`{"error":"gone","code":"gone"}`))
	f.Add([]byte(`{"ciphertext":"AA==","content_hash":"x","key_source":"grant","extra":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := readResult(bytes.NewReader(body))
		if err == nil {
			sum := sha256.Sum256(r.Ciphertext)
			if r.ContentHash != hex.EncodeToString(sum[:]) {
				t.Fatal("accepted a ciphertext that does not match its hash")
			}
			if (r.KeySource == KeySourceCustodian) != (len(r.SealedKey) > 0) {
				t.Fatal("key source and sealed key disagree")
			}
		}
		se := readServerError(&http.Response{StatusCode: http.StatusGone, Body: io.NopCloser(bytes.NewReader(body))}).(*ServerError)
		if se.Status != http.StatusGone {
			t.Fatal("status lost")
		}
	})
}

// FuzzFingerprintPEM: no PEM file panics the fingerprint reader.
func FuzzFingerprintPEM(f *testing.F) {
	dir := f.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if _, err := EnsureCert(cert, key, []string{"localhost"}); err != nil {
		f.Fatal(err)
	}
	for _, p := range []string{cert, key} {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		fp, err := fingerprintPEM(raw)
		if err == nil && len(fp) != sha256.Size {
			t.Fatalf("fingerprint of %d bytes", len(fp))
		}
	})
}
