package fhir_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/medchain/medchain/node/fhir"
	"github.com/medchain/medchain/node/synth"
)

// BenchmarkLoadCohort reads one synthetic hospital of 5,000 home patients
// (four NDJSON files) into a Cohort; go test -bench LoadCohort ./node/fhir.
func BenchmarkLoadCohort(b *testing.B) {
	d, err := synth.Generate(synth.Options{Hospitals: 1, Patients: 5000, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(b.TempDir(), "out")
	s, err := d.Write(dir)
	if err != nil {
		b.Fatal(err)
	}
	var paths []string
	for _, f := range s.Files {
		if filepath.Ext(f) == ".ndjson" {
			paths = append(paths, filepath.Join(dir, f))
		}
	}
	var size int64
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			b.Fatal(err)
		}
		size += st.Size()
	}
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		if _, err := fhir.LoadCohort(fhir.Limits{}, paths...); err != nil {
			b.Fatal(err)
		}
	}
}
