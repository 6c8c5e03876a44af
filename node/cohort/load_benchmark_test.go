package cohort_test

import (
	"testing"

	"github.com/medchain/medchain/node/cohort"
	"github.com/medchain/medchain/node/vault"
)

// BenchmarkLoad is the cost of loading a vault the relay wrote, per vault
// entry (records and patient facts): a Badger read, an X25519 open of the
// sealed key, AES-GCM and parsing, spread over GOMAXPROCS workers. "open
// vault" is LoadFrom on an open vault; "Load" adds opening and closing it.
func BenchmarkLoad(b *testing.B) {
	home, _, sealPriv := importedHome(b, 200, 11)
	v, err := vault.Open(home)
	if err != nil {
		b.Fatal(err)
	}
	ids, err := v.List()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("open vault", func(b *testing.B) {
		for b.Loop() {
			if _, err := cohort.LoadFrom(v, sealPriv, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(ids)), "ns/entry")
	})
	if err := v.Close(); err != nil {
		b.Fatal(err)
	}
	b.Run("Load", func(b *testing.B) {
		for b.Loop() {
			if _, err := cohort.Load(home, sealPriv, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(ids)), "ns/entry")
	})
}
