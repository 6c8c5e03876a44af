package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"strings"
	"time"

	"github.com/medchain/medchain/node/internal/atomicfile"
)

// certValidity is how long a generated certificate is valid. Clients pin
// its fingerprint (published on chain) rather than trusting a CA, so the
// dates matter little; a new certificate is a new fingerprint to publish.
const certValidity = 10 * 365 * 24 * time.Hour

// EnsureCert makes sure certPath and keyPath hold the gateway's TLS
// certificate and private key. If neither exists it creates a self-signed
// ECDSA P-256 certificate whose subject alternative names are hosts (IP
// addresses or DNS names), the key file with mode 0600; created reports
// that. If both exist it checks that they load as a pair and that the key
// file is private, and changes nothing. One without the other is an error:
// replacing the certificate silently would change the fingerprint every
// client pins.
func EnsureCert(certPath, keyPath string, hosts []string) (created bool, err error) {
	_, certErr := os.Stat(certPath)
	_, keyErr := os.Stat(keyPath)
	switch {
	case certErr == nil && keyErr == nil:
		_, _, err := LoadCertificate(certPath, keyPath)
		return false, err
	case certErr == nil && errors.Is(keyErr, fs.ErrNotExist):
		return false, fmt.Errorf("gateway certificate %s exists but its key %s does not: restore the key, or remove both files to create a new certificate (the node then publishes its new fingerprint)", certPath, keyPath)
	case keyErr == nil && errors.Is(certErr, fs.ErrNotExist):
		return false, fmt.Errorf("gateway key %s exists but its certificate %s does not: restore the certificate, or remove both files to create a new one (the node then publishes its new fingerprint)", keyPath, certPath)
	case certErr != nil && !errors.Is(certErr, fs.ErrNotExist):
		return false, fmt.Errorf("gateway certificate %s: %w", certPath, certErr)
	case keyErr != nil && !errors.Is(keyErr, fs.ErrNotExist):
		return false, fmt.Errorf("gateway key %s: %w", keyPath, keyErr)
	}
	certPEM, keyPEM, err := newSelfSigned(hosts, time.Now())
	if err != nil {
		return false, err
	}
	if err := atomicfile.WriteNew(keyPath, keyPEM, 0o600); err != nil {
		return false, fmt.Errorf("write gateway key %s: %w", keyPath, err)
	}
	if err := atomicfile.WriteNew(certPath, certPEM, 0o644); err != nil {
		_ = os.Remove(keyPath)
		return false, fmt.Errorf("write gateway certificate %s: %w", certPath, err)
	}
	return true, nil
}

// CheckCertHosts checks the subject alternative names of a certificate
// to create: at least one, each an IP address or a DNS name.
func CheckCertHosts(hosts []string) error {
	if len(hosts) == 0 {
		return errors.New("no host names: give the IP addresses and DNS names clients reach the gateway by, e.g. [\"127.0.0.1\", \"localhost\"]")
	}
	for _, h := range hosts {
		if net.ParseIP(h) != nil {
			continue
		}
		if !isDNSName(h) {
			return fmt.Errorf("host %q is neither an IP address nor a DNS name (letters, digits, '-' and '.', at most 253 characters)", cut(h, 64))
		}
	}
	return nil
}

func isDNSName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// newSelfSigned returns a PEM certificate and PEM PKCS#8 key.
func newSelfSigned(hosts []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	if err := CheckCertHosts(hosts); err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("gateway key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("certificate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "medchain gateway"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create gateway certificate: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode gateway key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	clear(pkcs8)
	return certPEM, keyPEM, nil
}

// LoadCertificate loads the gateway's certificate and key, checks that
// the key file is readable by its owner only, and returns the pair with
// the certificate's fingerprint (CertFingerprint).
func LoadCertificate(certPath, keyPath string) (tls.Certificate, []byte, error) {
	st, err := os.Stat(keyPath)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("gateway key %s: %w", keyPath, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return tls.Certificate{}, nil, fmt.Errorf("gateway key %s has mode %v: it must be private to its owner; run chmod 600 %s", keyPath, st.Mode().Perm(), keyPath)
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		// The error names no key material: tls reports only what it found.
		return tls.Certificate{}, nil, fmt.Errorf("gateway certificate %s and key %s do not load as a pair: %w", certPath, keyPath, err)
	}
	fp := sha256.Sum256(pair.Certificate[0])
	return pair, fp[:], nil
}

// CertFingerprint returns the SHA-256 of the DER of the first (leaf)
// certificate in the PEM file at certPEMPath: what the gateway publishes
// on chain and clients pin.
func CertFingerprint(certPEMPath string) ([]byte, error) {
	raw, err := os.ReadFile(certPEMPath)
	if err != nil {
		return nil, fmt.Errorf("gateway certificate: %w", err)
	}
	fp, err := fingerprintPEM(raw)
	if err != nil {
		return nil, fmt.Errorf("gateway certificate %s: %w", certPEMPath, err)
	}
	return fp, nil
}

// fingerprintPEM returns the SHA-256 of the first CERTIFICATE block of a
// PEM file, which must parse as an X.509 certificate.
func fingerprintPEM(raw []byte) ([]byte, error) {
	for rest := raw; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no PEM CERTIFICATE block")
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return nil, err
		}
		fp := sha256.Sum256(b.Bytes)
		return fp[:], nil
	}
}
