package synth_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/node/synth"
)

// goldenOptions are small enough for a fast test and big enough to have
// shared patients, lung cancers and deaths.
var goldenOptions = synth.Options{Hospitals: 3, Patients: 400, Seed: 20250101}

// goldenHash is the tree hash of the files written for goldenOptions. It
// changes only when the generator changes on purpose: then update it here
// and say so in the commit message (data sets built earlier change too).
const goldenHash = "b50b4ce19fbfdbbbf3ad23c24b5c549e6609aec0e8b1cf9d7d9271deca3c3094"

// treeHash hashes every file under dir: for each, sorted by path,
// "<relative path> <size>\n" and then its bytes.
func treeHash(t *testing.T, dir string) string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(paths)
	h := sha256.New()
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(rel), len(b))
		h.Write(b)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func generate(t *testing.T, o synth.Options) (string, *synth.Summary) {
	t.Helper()
	d, err := synth.Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	s, err := d.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, s
}

func TestSameSeedGivesByteIdenticalFiles(t *testing.T) {
	dir1, s1 := generate(t, goldenOptions)
	dir2, _ := generate(t, goldenOptions)
	h1, h2 := treeHash(t, dir1), treeHash(t, dir2)
	if h1 != h2 {
		t.Fatalf("two runs differ: %s vs %s", h1, h2)
	}
	t.Run("and matches the golden hash", func(t *testing.T) {
		if h1 != goldenHash {
			t.Fatalf("tree hash %s, golden %s: the generator's output changed", h1, goldenHash)
		}
	})
	t.Run("the summary lists every file", func(t *testing.T) {
		want := []string{"truth.json"}
		for h := range goldenOptions.Hospitals {
			for _, f := range []string{"conditions", "encounters", "observations", "patients"} {
				want = append(want, fmt.Sprintf("hospital%d/%s.ndjson", h, f))
			}
		}
		slices.Sort(want)
		if !slices.Equal(s1.Files, want) {
			t.Fatalf("files %v, want %v", s1.Files, want)
		}
		truth, _ := os.ReadFile(filepath.Join(dir1, "truth.json"))
		if fmt.Sprintf("%x", sha256.Sum256(truth)) != s1.TruthSHA256 {
			t.Fatal("summary's truth.json hash is wrong")
		}
	})
	t.Run("another seed gives other files", func(t *testing.T) {
		o := goldenOptions
		o.Seed++
		dir3, _ := generate(t, o)
		if treeHash(t, dir3) == h1 {
			t.Fatal("seed ignored")
		}
	})
	t.Run("another reference date gives other files", func(t *testing.T) {
		o := goldenOptions
		o.RefDate = time.Date(2030, 6, 1, 15, 0, 0, 0, time.UTC)
		dir3, _ := generate(t, o)
		if treeHash(t, dir3) == h1 {
			t.Fatal("reference date ignored")
		}
	})
}

func TestWriteRefusesANonEmptyFolder(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := synth.Generate(synth.Options{Hospitals: 1, Patients: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Write(dir); !errors.Is(err, synth.ErrDirNotEmpty) {
		t.Fatalf("got %v", err)
	}
}

func TestGenerateRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    synth.Options
		want string
	}{
		{"no hospitals", synth.Options{Hospitals: 0, Patients: 10}, "hospitals 0"},
		{"too many hospitals", synth.Options{Hospitals: synth.MaxHospitals + 1, Patients: 10}, "hospitals"},
		{"no patients", synth.Options{Hospitals: 2, Patients: 0}, "patients 0"},
		{"too many persons", synth.Options{Hospitals: 10, Patients: synth.MaxPatients}, "persons"},
		{"a reference date in year 1", synth.Options{Hospitals: 1, Patients: 1, RefDate: time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC)}, "reference date"},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			if _, err := synth.Generate(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about %q", err, tc.want)
			}
		})
	}
}

func TestOneHospitalHasNoSharedPatients(t *testing.T) {
	_, s := generate(t, synth.Options{Hospitals: 1, Patients: 50, Seed: 3})
	if s.SharedPersons != 0 || s.PatientRecords != 50 || s.Persons != 50 {
		t.Fatalf("%+v", s)
	}
	if len(s.Files) != 5 || s.Files[4] != "truth.json" {
		t.Fatalf("files %v", s.Files)
	}
}
