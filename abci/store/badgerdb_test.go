package store

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	corestore "cosmossdk.io/core/store"
	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

func openTestBadger(t *testing.T) *badgerDB {
	t.Helper()
	db, err := openBadger(t.TempDir(), nopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// write applies ops (value nil = delete) through one batch.
func write(t *testing.T, db *badgerDB, ops ...[2]string) {
	t.Helper()
	b := db.NewBatch()
	defer b.Close()
	for _, op := range ops {
		var err error
		if op[1] == "" {
			err = b.Delete([]byte(op[0]))
		} else {
			err = b.Set([]byte(op[0]), []byte(op[1]))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
}

func TestBadgerDBReadsWhatABatchWrote(t *testing.T) {
	db := openTestBadger(t)
	write(t, db, [2]string{"a", "1"}, [2]string{"b", "2"}, [2]string{"c", "3"})
	write(t, db, [2]string{"b", ""}, [2]string{"c", "33"})

	tests := []struct {
		name    string
		key     string
		want    []byte
		wantHas bool
	}{
		{"a key set once reads back", "a", []byte("1"), true},
		{"a deleted key reads as nil", "b", nil, false},
		{"an overwritten key reads the new value", "c", []byte("33"), true},
		{"a never-written key reads as nil", "zz", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.Get([]byte(tt.key))
			if err != nil || !bytes.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Fatalf("Get = %q, %v; want %q", got, err, tt.want)
			}
			has, err := db.Has([]byte(tt.key))
			if err != nil || has != tt.wantHas {
				t.Fatalf("Has = %v, %v; want %v", has, err, tt.wantHas)
			}
		})
	}
}

func TestBadgerDBRejectsInvalidInput(t *testing.T) {
	db := openTestBadger(t)
	b := db.NewBatch()
	defer b.Close()
	tests := []struct {
		name string
		err  error
	}{
		{"Get of an empty key fails", func() error { _, err := db.Get(nil); return err }()},
		{"Has of an empty key fails", func() error { _, err := db.Has([]byte{}); return err }()},
		{"a batch Set of an empty key fails", b.Set(nil, []byte("v"))},
		{"a batch Set of a nil value fails", b.Set([]byte("k"), nil)},
		{"a batch Delete of an empty key fails", b.Delete([]byte{})},
		{"an iterator with an empty start fails", func() error { _, err := db.Iterator([]byte{}, nil); return err }()},
		{"a reverse iterator with an empty end fails", func() error { _, err := db.ReverseIterator(nil, []byte{}); return err }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestBadgerDBKeepsEmptyValuesApartFromAbsentOnes(t *testing.T) {
	db := openTestBadger(t)
	b := db.NewBatch()
	if err := b.Set([]byte("empty"), []byte{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	got, err := db.Get([]byte("empty"))
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("Get = %#v, %v; want a non-nil empty slice", got, err)
	}
	it, err := db.Iterator(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if !it.Valid() || it.Value() == nil {
		t.Fatalf("iterator value of an empty entry is nil")
	}
}

func TestBadgerDBReturnsCopies(t *testing.T) {
	db := openTestBadger(t)
	key, val := []byte("key"), []byte("value")
	b := db.NewBatch()
	if err := b.Set(key, val); err != nil {
		t.Fatal(err)
	}
	key[0], val[0] = 'X', 'X' // the batch must have copied them
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	got, _ := db.Get([]byte("key"))
	if string(got) != "value" {
		t.Fatalf("batch kept the caller's slice: %q", got)
	}
	got[0] = 'Y'
	again, _ := db.Get([]byte("key"))
	if string(again) != "value" {
		t.Fatalf("Get returned shared memory: %q", again)
	}
	it, _ := db.Iterator(nil, nil)
	defer it.Close()
	k, v := it.Key(), it.Value()
	k[0], v[0] = 'Z', 'Z'
	if string(it.Key()) != "key" || string(it.Value()) != "value" {
		t.Fatalf("iterator returned shared memory")
	}
}

func collect(t *testing.T, it corestore.Iterator, err error) []string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var keys []string
	for ; it.Valid(); it.Next() {
		keys = append(keys, string(it.Key()))
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestBadgerDBIteratorsHonourTheirDomain(t *testing.T) {
	db := openTestBadger(t)
	write(t, db, [2]string{"a", "1"}, [2]string{"b", "2"}, [2]string{"c", "3"}, [2]string{"d", "4"})
	if err := db.set(metaKey, []byte("meta")); err != nil { // 0xFF… sorts last
		t.Fatal(err)
	}
	meta := string(metaKey)
	bs := func(s string) []byte {
		if s == "" {
			return nil
		}
		return []byte(s)
	}
	tests := []struct {
		name       string
		start, end string // "" = nil
		reverse    bool
		want       []string
	}{
		{"an unbounded iterator sees every key", "", "", false, []string{"a", "b", "c", "d", meta}},
		{"start is inclusive", "b", "", false, []string{"b", "c", "d", meta}},
		{"end is exclusive", "", "c", false, []string{"a", "b"}},
		{"bounds between keys select the keys inside", "aa", "cc", false, []string{"b", "c"}},
		{"an iterator ending before the meta key does not see it", "a", "\xff", false, []string{"a", "b", "c", "d"}},
		{"start equal to end is empty", "b", "b", false, nil},
		{"start after end is empty", "c", "b", false, nil},
		{"an unbounded reverse iterator sees every key backwards", "", "", true, []string{meta, "d", "c", "b", "a"}},
		{"a reverse iterator skips an end key that exists", "", "c", true, []string{"b", "a"}},
		{"a reverse iterator ending between keys starts below end", "", "bb", true, []string{"b", "a"}},
		{"a reverse iterator ending past every key starts at the last", "", "\xff\xff", true, []string{meta, "d", "c", "b", "a"}},
		{"a reverse iterator ending before every key is empty", "", "0", true, nil},
		{"a reverse iterator's start is inclusive", "b", "d", true, []string{"c", "b"}},
		{"a reverse iterator starting between keys stops above start", "bb", "", true, []string{meta, "d", "c"}},
		{"a reverse iterator with start equal to end is empty", "b", "b", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var it corestore.Iterator
			var err error
			if tt.reverse {
				it, err = db.ReverseIterator(bs(tt.start), bs(tt.end))
			} else {
				it, err = db.Iterator(bs(tt.start), bs(tt.end))
			}
			got := collect(t, it, err)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBadgerDBIteratorIsSafeAfterItEnds(t *testing.T) {
	db := openTestBadger(t)
	write(t, db, [2]string{"a", "1"})
	it, err := db.Iterator(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	it.Next()
	it.Next() // past the end: no panic
	if it.Valid() || it.Key() != nil || it.Value() != nil {
		t.Fatal("an exhausted iterator still returns data")
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if err := it.Close(); err != nil {
		t.Fatal("second Close failed:", err)
	}
	it.Next() // after Close: no panic
	if it.Valid() {
		t.Fatal("a closed iterator is valid")
	}
}

func TestBadgerBatchAppliesOpsInOrder(t *testing.T) {
	db := openTestBadger(t)
	write(t, db,
		[2]string{"set-then-delete", "v"}, [2]string{"set-then-delete", ""},
		[2]string{"delete-then-set", ""}, [2]string{"delete-then-set", "v"},
		[2]string{"set-twice", "1"}, [2]string{"set-twice", "2"})
	for key, want := range map[string]string{"set-then-delete": "", "delete-then-set": "v", "set-twice": "2"} {
		got, _ := db.Get([]byte(key))
		if string(got) != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
}

func TestBadgerBatchLifecycle(t *testing.T) {
	db := openTestBadger(t)
	b := db.NewBatchWithSize(1 << 20)
	if err := b.Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if n, err := b.GetByteSize(); err != nil || n < 2 {
		t.Fatalf("GetByteSize = %d, %v", n, err)
	}
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal("Close after Write:", err)
	}
	tests := []struct {
		name string
		err  error
	}{
		{"Set on a written batch fails", b.Set([]byte("k"), []byte("v"))},
		{"Delete on a written batch fails", b.Delete([]byte("k"))},
		{"a second Write fails", b.Write()},
		{"GetByteSize on a written batch fails", func() error { _, err := b.GetByteSize(); return err }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, errBatchClosed) {
				t.Fatalf("err = %v, want errBatchClosed", tt.err)
			}
		})
	}
	closed := db.NewBatch()
	_ = closed.Set([]byte("never"), []byte("v"))
	_ = closed.Close()
	if got, _ := db.Get([]byte("never")); got != nil {
		t.Fatal("a closed batch was written")
	}
}

func TestBadgerBatchSplitsWhenTooBigForOneTransaction(t *testing.T) {
	db := openTestBadger(t)
	// Values under the value threshold stay in the LSM tree and count fully
	// against Badger's transaction cap (15% of the 32 MiB memtable).
	const n, size = 3000, 3000 // ~9 MB
	b := db.NewBatch()
	for i := range n {
		v := bytes.Repeat([]byte{byte(i)}, size)
		if err := b.Set(fmt.Appendf(nil, "key-%05d", i), v); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1, n / 2, n - 1} {
		got, err := db.Get(fmt.Appendf(nil, "key-%05d", i))
		if err != nil || len(got) != size || got[0] != byte(i) {
			t.Fatalf("key %d: got %d bytes, err %v", i, len(got), err)
		}
	}
	it, err := db.Iterator(nil, nil)
	if got := len(collect(t, it, err)); got != n {
		t.Fatalf("%d keys on disk, want %d", got, n)
	}
}

// A store written by a node that still compressed its Badger blocks
// (Snappy, Badger's default) stays readable after the upgrade to
// uncompressed tables, and compacting old and new tables together loses
// nothing.
func TestBadgerDBReadsTablesWrittenCompressed(t *testing.T) {
	dir := t.TempDir()
	old, err := badger.Open(badgerOptions(dir, nopLogger{}).WithCompression(options.Snappy))
	if err != nil {
		t.Fatal(err)
	}
	compressed := &badgerDB{db: old}
	for i := range 2000 {
		write(t, compressed, [2]string{fmt.Sprintf("old/%05d", i), fmt.Sprintf("value %d", i)})
	}
	// Close writes the memtable out as a table, compressed.
	if err := compressed.Close(); err != nil {
		t.Fatal(err)
	}
	old, err = badger.Open(badgerOptions(dir, nopLogger{}).WithCompression(options.Snappy))
	if err != nil {
		t.Fatal(err)
	}
	compressedTables := 0
	for _, ti := range old.Tables() {
		if ti.OnDiskSize < ti.UncompressedSize {
			compressedTables++
		}
	}
	if compressedTables == 0 {
		t.Fatalf("no table was written compressed: %+v", old.Tables())
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := openBadger(dir, nopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		write(t, db, [2]string{fmt.Sprintf("new/%05d", i), fmt.Sprintf("value %d", i)})
	}
	if err := db.Close(); err != nil { // the new keys as an uncompressed table
		t.Fatal(err)
	}
	if db, err = openBadger(dir, nopLogger{}); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := len(db.db.Tables()); n < 2 {
		t.Fatalf("%d tables; want the old compressed one and the new one", n)
	}
	if err := db.db.Flatten(1); err != nil { // compact old and new together
		t.Fatal(err)
	}
	for _, prefix := range []string{"old", "new"} {
		for i := range 2000 {
			k := fmt.Sprintf("%s/%05d", prefix, i)
			got, err := db.Get([]byte(k))
			if err != nil || string(got) != fmt.Sprintf("value %d", i) {
				t.Fatalf("Get(%s) = %q, %v; want %q", k, got, err, fmt.Sprintf("value %d", i))
			}
		}
	}
}
