package keyring

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestAddressOf(t *testing.T) {
	tests := []struct {
		name string
		pub  ed25519.PublicKey
		want string
	}{
		{
			name: "the all-zero key hashes to the known SHA-256 prefix",
			pub:  make(ed25519.PublicKey, ed25519.PublicKeySize),
			want: "mc166687aadf862bd776c8fc18b8e9f8e2008971485",
		},
		{
			name: "a short key is hashed as given without panicking",
			pub:  ed25519.PublicKey{},
			// SHA-256("") = e3b0c442 98fc1c14 9afbf4c8 996fb924 27ae41e4 ...
			want: "mc1e3b0c44298fc1c149afbf4c8996fb92427ae41e4",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AddressOf(tt.pub); got != tt.want {
				t.Fatalf("AddressOf = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseAddress(t *testing.T) {
	valid := AddressOf(make(ed25519.PublicKey, ed25519.PublicKeySize))
	tests := []struct {
		name    string
		in      string
		wantErr string // substring; empty means success
	}{
		{name: "an address from AddressOf parses", in: valid},
		{name: "an empty string is refused for its prefix", in: "", wantErr: "must start with"},
		{name: "a wrong prefix is refused", in: "cosmos1" + valid[3:], wantErr: "must start with"},
		{name: "an uppercase prefix is refused", in: "MC1" + valid[3:], wantErr: "must start with"},
		{name: "the bare prefix is refused for its length", in: "mc1", wantErr: "want 40 hex digits"},
		{name: "a short address is refused for its length", in: valid[:len(valid)-2], wantErr: "got 38 characters"},
		{name: "a long address is refused for its length", in: valid + "00", wantErr: "got 42 characters"},
		{name: "uppercase hex digits are refused", in: "mc1" + strings.ToUpper(valid[3:]), wantErr: "must be lowercase"},
		{name: "a non-hex character is refused with its position", in: valid[:10] + "g" + valid[11:], wantErr: "position 10"},
		{name: "surrounding whitespace is refused", in: " " + valid[:len(valid)-1], wantErr: "must start with"},
		{name: "a huge input is cut in the message", in: "x" + strings.Repeat("a", 10000), wantErr: "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAddress(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseAddress: %v", err)
				}
				if back := AddressPrefix + hex.EncodeToString(got[:]); back != tt.in {
					t.Fatalf("round trip gave %s, want %s", back, tt.in)
				}
				return
			}
			if !errors.Is(err, ErrInvalidAddress) {
				t.Fatalf("err = %v, want ErrInvalidAddress", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %q, want it to mention %q", err, tt.wantErr)
			}
			if len(err.Error()) > 200 {
				t.Fatalf("error message is %d bytes long", len(err.Error()))
			}
		})
	}
}

func TestAddressRoundTrip(t *testing.T) {
	for i := range 20 {
		pub := make(ed25519.PublicKey, ed25519.PublicKeySize)
		pub[0] = byte(i)
		addr := AddressOf(pub)
		b, err := ParseAddress(addr)
		if err != nil {
			t.Fatalf("ParseAddress(AddressOf(key %d)): %v", i, err)
		}
		if AddressPrefix+hex.EncodeToString(b[:]) != addr {
			t.Fatalf("key %d: round trip changed %s", i, addr)
		}
	}
}

func FuzzParseAddress(f *testing.F) {
	valid := AddressOf(make(ed25519.PublicKey, ed25519.PublicKeySize))
	for _, s := range []string{valid, "", "mc1", "MC1" + valid[3:], valid + "0", valid[:20] + "Z" + valid[21:], "mc1\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseAddress(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidAddress) {
				t.Fatalf("error %v does not wrap ErrInvalidAddress", err)
			}
			return
		}
		if back := AddressPrefix + hex.EncodeToString(b[:]); back != s {
			t.Fatalf("accepted non-canonical %q (canonical %q)", s, back)
		}
	})
}
