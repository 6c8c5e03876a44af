package gateway

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnsureCert(t *testing.T) {
	paths := func(t *testing.T) (string, string) {
		dir := t.TempDir()
		return filepath.Join(dir, "gateway_cert.pem"), filepath.Join(dir, "gateway_key.pem")
	}
	t.Run("a new certificate is self-signed ECDSA P-256 for the hosts, its key private", func(t *testing.T) {
		cert, key := paths(t)
		created, err := EnsureCert(cert, key, []string{"127.0.0.1", "localhost", "gw.hospital.example"})
		if err != nil || !created {
			t.Fatalf("created %v, %v", created, err)
		}
		st, err := os.Stat(key)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("key file: %v %v", st.Mode(), err)
		}
		raw, _ := os.ReadFile(cert)
		b, _ := pem.Decode(raw)
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		pub, ok := c.PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() {
			t.Fatalf("public key %T", c.PublicKey)
		}
		if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
			t.Fatalf("not self-signed: %v", err)
		}
		if len(c.IPAddresses) != 1 || c.IPAddresses[0].String() != "127.0.0.1" ||
			strings.Join(c.DNSNames, ",") != "localhost,gw.hospital.example" {
			t.Fatalf("SANs %v %v", c.IPAddresses, c.DNSNames)
		}
		if err := c.VerifyHostname("gw.hospital.example"); err != nil {
			t.Fatal(err)
		}
		fp, err := CertFingerprint(cert)
		want := sha256.Sum256(c.Raw)
		if err != nil || !bytes.Equal(fp, want[:]) {
			t.Fatalf("fingerprint %x, %v; want %x", fp, err, want)
		}
		_, loaded, err := LoadCertificate(cert, key)
		if err != nil || !bytes.Equal(loaded, fp) {
			t.Fatalf("LoadCertificate: %x, %v", loaded, err)
		}
	})
	t.Run("a second call keeps the certificate and its fingerprint", func(t *testing.T) {
		cert, key := paths(t)
		if _, err := EnsureCert(cert, key, []string{"localhost"}); err != nil {
			t.Fatal(err)
		}
		fp1, _ := CertFingerprint(cert)
		created, err := EnsureCert(cert, key, []string{"other.example"})
		fp2, _ := CertFingerprint(cert)
		if err != nil || created || !bytes.Equal(fp1, fp2) {
			t.Fatalf("created %v, %v; fingerprint changed: %v", created, err, !bytes.Equal(fp1, fp2))
		}
	})
	t.Run("a certificate without its key is an error naming both and the fix", func(t *testing.T) {
		cert, key := paths(t)
		if _, err := EnsureCert(cert, key, []string{"localhost"}); err != nil {
			t.Fatal(err)
		}
		before, _ := os.ReadFile(cert)
		os.Remove(key)
		_, err := EnsureCert(cert, key, []string{"localhost"})
		if err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "remove both") {
			t.Fatalf("got %v", err)
		}
		if after, _ := os.ReadFile(cert); !bytes.Equal(before, after) {
			t.Fatal("the certificate was changed")
		}
	})
	t.Run("a key without its certificate is an error", func(t *testing.T) {
		cert, key := paths(t)
		if _, err := EnsureCert(cert, key, []string{"localhost"}); err != nil {
			t.Fatal(err)
		}
		os.Remove(cert)
		if _, err := EnsureCert(cert, key, []string{"localhost"}); err == nil || !strings.Contains(err.Error(), cert) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a key readable by others is refused with the fix", func(t *testing.T) {
		cert, key := paths(t)
		if _, err := EnsureCert(cert, key, []string{"localhost"}); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(key, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := EnsureCert(cert, key, []string{"localhost"}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a certificate and key that are not a pair are refused", func(t *testing.T) {
		cert, key := paths(t)
		cert2, key2 := paths(t)
		for _, p := range [][2]string{{cert, key}, {cert2, key2}} {
			if _, err := EnsureCert(p[0], p[1], []string{"localhost"}); err != nil {
				t.Fatal(err)
			}
		}
		raw, _ := os.ReadFile(key2)
		if err := os.WriteFile(key, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadCertificate(cert, key); err == nil || !strings.Contains(err.Error(), "pair") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("bad host names are refused and nothing is written", func(t *testing.T) {
		for _, hosts := range [][]string{nil, {""}, {"bad host"}, {"-x.example"}, {strings.Repeat("a", 64) + ".example"}} {
			cert, key := paths(t)
			if _, err := EnsureCert(cert, key, hosts); err == nil {
				t.Fatalf("%q accepted", hosts)
			}
			if _, err := os.Stat(key); !os.IsNotExist(err) {
				t.Fatalf("%q: a key was written", hosts)
			}
		}
	})
	t.Run("a file with no certificate has no fingerprint", func(t *testing.T) {
		cert, key := paths(t)
		if _, err := EnsureCert(cert, key, []string{"localhost"}); err != nil {
			t.Fatal(err)
		}
		if _, err := CertFingerprint(key); err == nil || !strings.Contains(err.Error(), "no PEM CERTIFICATE") {
			t.Fatalf("got %v", err)
		}
	})
}
