package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

// saveVersionWithoutMeta does what Commit does up to, but not including,
// the meta write: the state a crash between the two leaves on disk.
func (s *Store) saveVersionWithoutMeta() error {
	_, _, err := s.tree.SaveVersion()
	return err
}

// putRaw writes a key straight into Badger, behind IAVL's back.
func putRaw(t *testing.T, s *Store, key, value []byte) {
	t.Helper()
	if err := s.db.set(key, value); err != nil {
		t.Fatal(err)
	}
}

// nodeKey builds IAVL's on-disk key of node (version, nonce).
func nodeKey(version int64, nonce uint32) []byte {
	k := make([]byte, 13)
	k[0] = 's'
	binary.BigEndian.PutUint64(k[1:], uint64(version))
	binary.BigEndian.PutUint32(k[9:], nonce)
	return k
}

func TestACrashBeforeTheMetaWriteLeavesTheOldCommit(t *testing.T) {
	tests := []struct {
		name  string
		crash func(t *testing.T, s *Store)
	}{
		{"a fully saved but unrecorded version is discarded", func(t *testing.T, s *Store) {
			mustSet(t, s, "a", "2", "half", "written")
			_ = s.Delete([]byte("b"))
			if err := s.saveVersionWithoutMeta(); err != nil {
				t.Fatal(err)
			}
		}},
		{"a torn write of the next version is discarded", func(t *testing.T, s *Store) {
			putRaw(t, s, nodeKey(2, 7), []byte("half a node"))
		}},
		{"several unrecorded versions are discarded", func(t *testing.T, s *Store) {
			mustSet(t, s, "half", "written")
			if err := s.saveVersionWithoutMeta(); err != nil {
				t.Fatal(err)
			}
			mustSet(t, s, "more", "x")
			if err := s.saveVersionWithoutMeta(); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openAt(t, Options{Dir: dir})
			mustSet(t, s, "a", "1", "b", "1")
			v1 := mustCommit(t, s, 1)
			tt.crash(t, s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			r := openAt(t, Options{Dir: dir})
			if h, hash := r.LastCommit(); h != 1 || !bytes.Equal(hash, v1) {
				t.Fatalf("LastCommit = %d %X, want 1 %X", h, hash, v1)
			}
			for k, want := range map[string]string{"a": "1", "b": "1", "half": "", "more": ""} {
				for _, get := range []func([]byte) ([]byte, error){r.Get, func(k []byte) ([]byte, error) { return r.GetAt(0, k) }} {
					if got, err := get([]byte(k)); err != nil || string(got) != want {
						t.Errorf("%s = %q, %v; want %q", k, got, err, want)
					}
				}
			}
			if _, err := r.GetAt(2, []byte("a")); !errors.Is(err, ErrHeightNotCommitted) {
				t.Fatalf("GetAt(2) = %v", err)
			}

			// Height 2 commits again and matches a store that never crashed.
			mustSet(t, r, "a", "2", "c", "2")
			got := mustCommit(t, r, 2)
			fresh, _ := openTemp(t, 0)
			mustSet(t, fresh, "a", "1", "b", "1")
			mustCommit(t, fresh, 1)
			mustSet(t, fresh, "a", "2", "c", "2")
			if want := mustCommit(t, fresh, 2); !bytes.Equal(got, want) {
				t.Fatalf("height 2 after recovery %X, fresh store %X", got, want)
			}
		})
	}
}

func TestACrashDuringTheFirstCommitLeavesAnEmptyStore(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, Options{Dir: dir})
	mustSet(t, s, "a", "1")
	if err := s.saveVersionWithoutMeta(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := openAt(t, Options{Dir: dir})
	if h, hash := r.LastCommit(); h != 0 || !bytes.Equal(hash, emptyHash()) {
		t.Fatalf("LastCommit = %d %X", h, hash)
	}
	if got, _ := r.Get([]byte("a")); got != nil {
		t.Fatalf("uncommitted a = %q", got)
	}
	mustSet(t, r, "a", "1")
	got := mustCommit(t, r, 1)
	fresh, _ := openTemp(t, 0)
	mustSet(t, fresh, "a", "1")
	if want := mustCommit(t, fresh, 1); !bytes.Equal(got, want) {
		t.Fatalf("height 1 after recovery %X, fresh store %X", got, want)
	}
}

func TestOpenRefusesAnInconsistentDirectory(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, s *Store)
	}{
		{"a meta record ahead of IAVL is corruption", func(t *testing.T, s *Store) {
			bz, _ := encodeMeta(commitMeta{height: 9, appHash: make([]byte, hashSize)})
			putRaw(t, s, metaKey, bz)
		}},
		{"a meta hash that differs from IAVL's root is corruption", func(t *testing.T, s *Store) {
			bz, _ := encodeMeta(commitMeta{height: 1, appHash: bytes.Repeat([]byte{0xAB}, hashSize)})
			putRaw(t, s, metaKey, bz)
		}},
		{"an unreadable meta record is corruption", func(t *testing.T, s *Store) {
			putRaw(t, s, metaKey, []byte("garbage"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openAt(t, Options{Dir: dir})
			mustSet(t, s, "a", "1")
			mustCommit(t, s, 1)
			tt.damage(t, s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			r, err := Open(Options{Dir: dir})
			if err == nil {
				_ = r.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			// The failed Open released the directory.
			db, err := openBadger(dir, nopLogger{})
			if err != nil {
				t.Fatalf("directory still locked: %v", err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAFailedCommitStopsTheStoreUntilReopened(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, Options{Dir: dir})
	mustSet(t, s, "a", "1")
	v1 := mustCommit(t, s, 1)

	beforeMetaHook = func() error { return errors.New("disk full") }
	mustSet(t, s, "a", "2")
	_, err := s.Commit(2)
	beforeMetaHook = nil
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("Commit = %v, want ErrFailed", err)
	}
	tests := []struct {
		name string
		err  error
	}{
		{"Set is refused", s.Set([]byte("b"), []byte("1"))},
		{"Get is refused", func() error { _, err := s.Get([]byte("a")); return err }()},
		{"a retried Commit is refused", func() error { _, err := s.Commit(2); return err }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, ErrFailed) {
				t.Fatalf("err = %v, want ErrFailed", tt.err)
			}
		})
	}
	if h, hash := s.LastCommit(); h != 1 || !bytes.Equal(hash, v1) {
		t.Fatalf("LastCommit after the failure = %d %X", h, hash)
	}
	if got, err := s.GetAt(0, []byte("a")); err != nil || string(got) != "1" {
		t.Fatalf("queries after the failure: %q, %v", got, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	r := openAt(t, Options{Dir: dir})
	if h, hash := r.LastCommit(); h != 1 || !bytes.Equal(hash, v1) {
		t.Fatalf("LastCommit after reopen = %d %X", h, hash)
	}
	mustSet(t, r, "a", "2")
	mustCommit(t, r, 2)
}

func TestEmptyBlocksAndPruningKeepEveryKeptHeightReadable(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, Options{Dir: dir, KeepRecent: 1})
	mustSet(t, s, "a", "1", "b", "1", "c", "1")
	first := mustCommit(t, s, 1)
	for h := int64(2); h <= 6; h++ { // nothing changes: each root refers to the one before
		if got, err := s.GetAt(h-1, []byte("b")); err != nil || string(got) != "1" {
			t.Fatalf("GetAt(%d) = %q, %v", h-1, got, err)
		}
		if hash := mustCommit(t, s, h); !bytes.Equal(hash, first) {
			t.Fatalf("an empty block changed the app hash at %d", h)
		}
		if _, _, err := s.ProveAt(h, []byte("b")); err != nil {
			t.Fatalf("ProveAt(%d): %v", h, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := openAt(t, Options{Dir: dir, KeepRecent: 1})
	if got, err := r.GetAt(6, []byte("c")); err != nil || string(got) != "1" {
		t.Fatalf("GetAt(6) after reopen = %q, %v", got, err)
	}
	mustSet(t, r, "b", "7")
	mustCommit(t, r, 7)
	mustCommit(t, r, 8)
	if got, err := r.GetAt(8, []byte("b")); err != nil || string(got) != "7" {
		t.Fatalf("GetAt(8) = %q, %v", got, err)
	}
}

func TestValueLogGCRunsAndStopsOnClose(t *testing.T) {
	old := gcInterval
	gcInterval = 5 * time.Millisecond
	defer func() { gcInterval = old }()
	s, _ := openTemp(t, 1)
	big := bytes.Repeat([]byte{1}, 2*valueThreshold) // goes to the value log
	for h := int64(1); h <= 5; h++ {
		if err := s.Set([]byte("blob"), append(big, byte(h))); err != nil {
			t.Fatal(err)
		}
		mustCommit(t, s, h)
	}
	time.Sleep(30 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
