package synth_test

import (
	"path/filepath"
	"testing"

	"github.com/medchain/medchain/node/synth"
)

// BenchmarkGenerateAndWrite is `medchain synth --hospitals 4 --patients 2000`;
// go test -bench GenerateAndWrite ./node/synth.
func BenchmarkGenerateAndWrite(b *testing.B) {
	for i := 0; b.Loop(); i++ {
		d, err := synth.Generate(synth.Options{Hospitals: 4, Patients: 2000, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		s, err := d.Write(filepath.Join(b.TempDir(), "out"))
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(s.Bytes)
	}
}
