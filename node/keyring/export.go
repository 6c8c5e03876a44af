package keyring

import (
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/medchain/medchain/node/internal/strictjson"
)

const (
	exportFormat  = "medchain-key-export"
	exportVersion = 1
	exportDomain  = "medchain/keyring/export"
)

// exportFile is what Export returns and Import reads: the seed re-encrypted
// under the export passphrase. It carries no key name; Import chooses one.
//
//	{"format":"medchain-key-export", "version":1, "address":"mc1...",
//	 "pubkey":base64, "kdf":{...}, "nonce":base64, "ciphertext":base64}
type exportFile struct {
	Format     string    `json:"format"`
	Version    int       `json:"version"`
	Address    string    `json:"address"`
	PubKey     []byte    `json:"pubkey"`
	KDF        kdfParams `json:"kdf"`
	Nonce      []byte    `json:"nonce"`
	Ciphertext []byte    `json:"ciphertext"`
}

// decodeExport parses and validates export data. It never panics.
func decodeExport(data []byte) (*exportFile, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%w: %d bytes, larger than %d", ErrInvalidExport, len(data), maxFileSize)
	}
	var ef exportFile
	if err := strictjson.Decode(data, &ef); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidExport, err)
	}
	if err := ef.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidExport, err)
	}
	return &ef, nil
}

func (ef *exportFile) validate() error {
	switch {
	case ef.Format != exportFormat:
		return fmt.Errorf("format is %s, want %q", quoteShort(ef.Format), exportFormat)
	case ef.Version != exportVersion:
		return fmt.Errorf("unsupported version %d (this build reads version %d)", ef.Version, exportVersion)
	case len(ef.PubKey) != ed25519.PublicKeySize:
		return fmt.Errorf("pubkey is %d bytes, want %d", len(ef.PubKey), ed25519.PublicKeySize)
	case ef.Address != AddressOf(ef.PubKey):
		return fmt.Errorf("address %s does not match the public key", quoteShort(ef.Address))
	case len(ef.Nonce) != nonceSize:
		return fmt.Errorf("nonce is %d bytes, want %d", len(ef.Nonce), nonceSize)
	case len(ef.Ciphertext) != ed25519.SeedSize+chacha20poly1305.Overhead:
		return fmt.Errorf("ciphertext is %d bytes, want %d", len(ef.Ciphertext), ed25519.SeedSize+chacha20poly1305.Overhead)
	}
	return ef.KDF.validate()
}

func (ef *exportFile) encode() ([]byte, error) {
	b, err := json.MarshalIndent(ef, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("keyring: encode export: %w", err)
	}
	return append(b, '\n'), nil
}

// aad binds every clear field of the export to its ciphertext.
func (ef *exportFile) aad() []byte {
	var b []byte
	b = appendBytes(b, []byte(exportDomain))
	b = appendBytes(b, []byte(ef.Format))
	b = binary.BigEndian.AppendUint32(b, uint32(ef.Version))
	b = appendBytes(b, []byte(ef.Address))
	b = appendBytes(b, ef.PubKey)
	return ef.KDF.appendAAD(b)
}
