package keyring

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// validFiles returns a real key file and a real export, as fuzz seeds.
func validFiles(f *testing.F) (keyFileData, exportData []byte) {
	dir := f.TempDir()
	kr := openKeyring(f, dir, BackendTest, nil)
	mustAdd(f, kr, "alice")
	keyFileData, err := os.ReadFile(filepath.Join(dir, "alice.key"))
	if err != nil {
		f.Fatal(err)
	}
	exportData, err = kr.Export("alice", "export passphrase")
	if err != nil {
		f.Fatal(err)
	}
	return keyFileData, exportData
}

func FuzzDecodeKeyFile(f *testing.F) {
	kfData, _ := validFiles(f)
	f.Add(kfData)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"version":1,"kdf":{"time":0,"memory":0,"threads":0}}`))
	f.Add([]byte(`null`))
	f.Add(bytes.Replace(kfData, []byte(`"time": 1`), []byte(`"time": 4294967295`), 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		kf, err := decodeKeyFile(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidKeyFile) {
				t.Fatalf("error %v does not wrap ErrInvalidKeyFile", err)
			}
			return
		}
		// What decodes must re-encode to a fixed point.
		enc, err := kf.encode()
		if err != nil {
			t.Fatalf("encode a decoded file: %v", err)
		}
		kf2, err := decodeKeyFile(enc)
		if err != nil {
			t.Fatalf("decode re-encoded file: %v", err)
		}
		enc2, _ := kf2.encode()
		if !bytes.Equal(enc, enc2) || !bytes.Equal(kf.aad(), kf2.aad()) {
			t.Fatal("re-encoding is not stable")
		}
	})
}

func FuzzDecodeExport(f *testing.F) {
	_, exData := validFiles(f)
	f.Add(exData)
	f.Add([]byte(`{"format":"medchain-key-export"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ef, err := decodeExport(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidExport) {
				t.Fatalf("error %v does not wrap ErrInvalidExport", err)
			}
			return
		}
		enc, err := ef.encode()
		if err != nil {
			t.Fatalf("encode a decoded export: %v", err)
		}
		if _, err := decodeExport(enc); err != nil {
			t.Fatalf("decode re-encoded export: %v", err)
		}
	})
}
