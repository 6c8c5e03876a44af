package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

func openAt(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func openTemp(t *testing.T, keepRecent int64) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	return openAt(t, Options{Dir: dir, KeepRecent: keepRecent}), dir
}

func mustSet(t *testing.T, s *Store, kv ...string) {
	t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		if err := s.Set([]byte(kv[i]), []byte(kv[i+1])); err != nil {
			t.Fatal(err)
		}
	}
}

func mustCommit(t *testing.T, s *Store, height int64) []byte {
	t.Helper()
	hash, err := s.Commit(height)
	if err != nil {
		t.Fatalf("commit %d: %v", height, err)
	}
	return hash
}

func TestOpenRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"an empty Dir is refused", Options{}},
		{"a negative KeepRecent is refused", Options{Dir: t.TempDir(), KeepRecent: -1}},
		{"a negative CacheSize is refused", Options{Dir: t.TempDir(), CacheSize: -1}},
		{"a negative InitialHeight is refused", Options{Dir: t.TempDir(), InitialHeight: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Open(tt.opts); !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("err = %v, want ErrInvalidOptions", err)
			}
		})
	}
}

func TestOpenRefusesADirectoryAlreadyInUse(t *testing.T) {
	_, dir := openTemp(t, 0)
	if s, err := Open(Options{Dir: dir}); err == nil {
		_ = s.Close()
		t.Fatal("a second Open of the same directory succeeded")
	}
}

func TestWorkingStateReadsItsOwnWrites(t *testing.T) {
	s, _ := openTemp(t, 0)
	mustSet(t, s, "a", "1", "b", "2", "c", "3")
	if err := s.Delete([]byte("b")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete([]byte("never-set")); err != nil {
		t.Fatal("deleting an absent key:", err)
	}
	mustSet(t, s, "c", "33", "e", "")

	tests := []struct {
		name string
		key  string
		want []byte
	}{
		{"a set key reads back", "a", []byte("1")},
		{"a deleted key reads nil", "b", nil},
		{"an overwritten key reads the new value", "c", []byte("33")},
		{"an absent key reads nil", "d", nil},
		{"an empty value reads back empty, not nil", "e", []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Get([]byte(tt.key))
			if err != nil || !bytes.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Fatalf("Get = %#v, %v; want %#v", got, err, tt.want)
			}
		})
	}
}

func TestWorkingStateRejectsBadInput(t *testing.T) {
	s, _ := openTemp(t, 0)
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"Set of an empty key fails", s.Set(nil, []byte("v")), ErrEmptyKey},
		{"Set of a nil value fails", s.Set([]byte("k"), nil), ErrNilValue},
		{"Set of an oversized value fails", s.Set([]byte("k"), make([]byte, MaxValueSize+1)), ErrValueTooLarge},
		{"Get of an empty key fails", func() error { _, err := s.Get([]byte{}); return err }(), ErrEmptyKey},
		{"Delete of an empty key fails", s.Delete(nil), ErrEmptyKey},
		{"an iterator with an empty bound fails", func() error { _, err := s.Iterator([]byte{}, nil, true); return err }(), ErrEmptyKey},
		{"GetAt of an empty key fails", func() error { _, err := s.GetAt(0, nil); return err }(), ErrEmptyKey},
		{"ProveAt of an empty key fails", func() error { _, _, err := s.ProveAt(0, nil); return err }(), ErrEmptyKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.want) {
				t.Fatalf("err = %v, want %v", tt.err, tt.want)
			}
		})
	}
}

func TestSetCopiesTheCallersSlices(t *testing.T) {
	s, _ := openTemp(t, 0)
	key, val := []byte("key"), []byte("value")
	if err := s.Set(key, val); err != nil {
		t.Fatal(err)
	}
	key[0], val[0] = 'X', 'X'
	got, _ := s.Get([]byte("key"))
	if string(got) != "value" {
		t.Fatalf("store kept the caller's slice: %q", got)
	}
	got[0] = 'Y'
	if again, _ := s.Get([]byte("key")); string(again) != "value" {
		t.Fatalf("Get returned shared memory: %q", again)
	}
}

func TestCommitHeightsMustBeSequential(t *testing.T) {
	s, _ := openTemp(t, 0)
	mustSet(t, s, "k", "v")
	tests := []struct {
		name    string
		height  int64
		wantErr bool
	}{
		{"height 0 is refused", 0, true},
		{"a negative height is refused", -1, true},
		{"skipping height 1 is refused", 2, true},
		{"height 1 on an empty store commits", 1, false},
		{"height 1 again is refused", 1, true},
		{"skipping height 2 is refused", 3, true},
		{"height 2 commits", 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Commit(tt.height)
			if tt.wantErr != (err != nil) {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrBadHeight) {
				t.Fatalf("err = %v, want ErrBadHeight", err)
			}
		})
	}
	if h, _ := s.LastCommit(); h != 2 {
		t.Fatalf("LastCommit height = %d, want 2", h)
	}
}

func TestAFreshStoreReportsTheEmptyTree(t *testing.T) {
	s, _ := openTemp(t, 0)
	h, hash := s.LastCommit()
	if h != 0 || !bytes.Equal(hash, s.WorkingHash()) || !bytes.Equal(hash, emptyHash()) {
		t.Fatalf("LastCommit = %d, %X; WorkingHash %X", h, hash, s.WorkingHash())
	}
	// Height 0 is the empty state CheckTx reads before block 1 commits.
	if got, err := s.GetAt(0, []byte("k")); got != nil || err != nil {
		t.Fatalf("GetAt(0) on a fresh store = %q, %v; want nil, nil", got, err)
	}
	if it, err := s.IteratorAt(0, nil, nil, true); len(iterate(t, it, err)) != 0 {
		t.Fatal("IteratorAt(0) on a fresh store is not empty")
	}
	if got, err := s.HashAt(0); err != nil || !bytes.Equal(got, emptyHash()) {
		t.Fatalf("HashAt(0) on a fresh store = %X, %v", got, err)
	}
	if _, _, err := s.ProveAt(0, []byte("k")); !errors.Is(err, ErrEmptyState) {
		t.Fatalf("ProveAt(0) on a fresh store: %v", err)
	}
	if _, err := s.GetAt(1, []byte("k")); !errors.Is(err, ErrHeightNotCommitted) {
		t.Fatalf("GetAt(1) on a fresh store: %v", err)
	}
	// An empty block commits the empty tree.
	got := mustCommit(t, s, 1)
	if !bytes.Equal(got, emptyHash()) {
		t.Fatalf("empty commit hash %X, want %X", got, emptyHash())
	}
}

func TestCommitHashesAgreeAndSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, Options{Dir: dir})
	var hashes [][]byte
	for h := int64(1); h <= 3; h++ {
		mustSet(t, s, fmt.Sprint("key-", h), fmt.Sprint("value-", h), "shared", fmt.Sprint(h))
		working := s.WorkingHash()
		committed := mustCommit(t, s, h)
		height, last := s.LastCommit()
		if !bytes.Equal(working, committed) || !bytes.Equal(committed, last) || height != h {
			t.Fatalf("height %d: working %X, Commit %X, LastCommit %d %X", h, working, committed, height, last)
		}
		if bytes.Equal(s.WorkingHash(), committed) == false {
			t.Fatalf("after Commit the working hash moved")
		}
		hashes = append(hashes, committed)
	}
	mustSet(t, s, "uncommitted", "lost")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	r := openAt(t, Options{Dir: dir})
	height, last := r.LastCommit()
	if height != 3 || !bytes.Equal(last, hashes[2]) {
		t.Fatalf("after reopen LastCommit = %d %X, want 3 %X", height, last, hashes[2])
	}
	if !bytes.Equal(r.WorkingHash(), hashes[2]) {
		t.Fatal("after reopen the working hash differs from the last commit")
	}
	for k, want := range map[string]string{"key-1": "value-1", "key-3": "value-3", "shared": "3", "uncommitted": ""} {
		got, err := r.Get([]byte(k))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", k, got, err, want)
		}
	}
	mustSet(t, r, "key-4", "value-4")
	mustCommit(t, r, 4)
}

func TestRollbackDiscardsUncommittedChanges(t *testing.T) {
	s, _ := openTemp(t, 0)
	mustSet(t, s, "a", "1")
	committed := mustCommit(t, s, 1)
	mustSet(t, s, "a", "2", "b", "2")
	if err := s.Delete([]byte("a")); err != nil {
		t.Fatal(err)
	}
	s.Rollback()
	if got, _ := s.Get([]byte("a")); string(got) != "1" {
		t.Fatalf("a = %q after Rollback", got)
	}
	if got, _ := s.Get([]byte("b")); got != nil {
		t.Fatalf("b = %q after Rollback", got)
	}
	if !bytes.Equal(s.WorkingHash(), committed) {
		t.Fatal("working hash differs from the commit after Rollback")
	}

	fresh, _ := openTemp(t, 0)
	mustSet(t, fresh, "x", "1")
	fresh.Rollback()
	if !bytes.Equal(fresh.WorkingHash(), emptyHash()) {
		t.Fatal("Rollback on a store with no commit did not empty it")
	}
}

func iterate(t *testing.T, it Iterator, err error) []string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []string
	for ; it.Valid(); it.Next() {
		out = append(out, string(it.Key())+"="+string(it.Value()))
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestIteratorsHonourTheirDomain(t *testing.T) {
	s, _ := openTemp(t, 0)
	mustSet(t, s, "a", "1", "b", "2", "c", "3", "d", "4")
	mustCommit(t, s, 1)
	mustSet(t, s, "e", "5") // working state only
	bs := func(s string) []byte {
		if s == "" {
			return nil
		}
		return []byte(s)
	}
	tests := []struct {
		name       string
		start, end string
		ascending  bool
		working    []string
	}{
		{"an unbounded iterator sees every key", "", "", true, []string{"a=1", "b=2", "c=3", "d=4", "e=5"}},
		{"start is inclusive and end exclusive", "b", "d", true, []string{"b=2", "c=3"}},
		{"bounds between keys select the keys inside", "aa", "cc", true, []string{"b=2", "c=3"}},
		{"a descending iterator skips an end key that exists", "", "c", false, []string{"b=2", "a=1"}},
		{"a descending iterator's start is inclusive", "b", "", false, []string{"e=5", "d=4", "c=3", "b=2"}},
		{"an empty range is empty", "c", "c", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it, err := s.Iterator(bs(tt.start), bs(tt.end), tt.ascending)
			if got := iterate(t, it, err); fmt.Sprint(got) != fmt.Sprint(tt.working) {
				t.Fatalf("working: got %q, want %q", got, tt.working)
			}
			var committed []string
			for _, kv := range tt.working {
				if !strings.HasPrefix(kv, "e=") {
					committed = append(committed, kv)
				}
			}
			it, err = s.IteratorAt(1, bs(tt.start), bs(tt.end), tt.ascending)
			if got := iterate(t, it, err); fmt.Sprint(got) != fmt.Sprint(committed) {
				t.Fatalf("committed: got %q, want %q", got, committed)
			}
		})
	}
}

func TestAWorkingIteratorStopsWhenTheStateChanges(t *testing.T) {
	s, _ := openTemp(t, 0)
	mustSet(t, s, "a", "1", "b", "2")
	tests := []struct {
		name   string
		change func()
	}{
		{"a Set invalidates it", func() { mustSet(t, s, "c", "3") }},
		{"a Delete invalidates it", func() { _ = s.Delete([]byte("c")) }},
		{"a Rollback invalidates it", s.Rollback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it, err := s.Iterator(nil, nil, true)
			if err != nil {
				t.Fatal(err)
			}
			defer it.Close()
			tt.change()
			if it.Valid() || it.Key() != nil {
				t.Fatal("iterator still valid after a change")
			}
			it.Next() // no panic
			if !errors.Is(it.Error(), ErrIteratorInvalidated) {
				t.Fatalf("Error() = %v", it.Error())
			}
		})
	}
}

func TestOldHeightsKeepTheirValues(t *testing.T) {
	s, _ := openTemp(t, 0)
	for h := int64(1); h <= 4; h++ {
		mustSet(t, s, "counter", fmt.Sprint(h), fmt.Sprint("added-", h), "x")
		if h == 3 {
			_ = s.Delete([]byte("added-1"))
		}
		mustCommit(t, s, h)
	}
	mustSet(t, s, "counter", "working")

	tests := []struct {
		name    string
		height  int64
		key     string
		want    string // "" = absent
		wantErr error
	}{
		{"height 1 sees its own value", 1, "counter", "1", nil},
		{"height 2 sees its own value", 2, "counter", "2", nil},
		{"height 0 means the latest commit, not the working state", 0, "counter", "4", nil},
		{"a key deleted at height 3 is present at height 2", 2, "added-1", "x", nil},
		{"a key deleted at height 3 is absent at height 3", 3, "added-1", "", nil},
		{"a key added at height 4 is absent at height 3", 3, "added-4", "", nil},
		{"a future height is refused", 5, "counter", "", ErrHeightNotCommitted},
		{"a negative height is refused", -1, "counter", "", ErrInvalidHeight},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.GetAt(tt.height, []byte(tt.key))
			if !errors.Is(err, tt.wantErr) || string(got) != tt.want {
				t.Fatalf("GetAt = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	it, err := s.IteratorAt(2, nil, nil, true)
	if got := iterate(t, it, err); fmt.Sprint(got) != "[added-1=x added-2=x counter=2]" {
		t.Fatalf("IteratorAt(2) = %q", got)
	}
	if _, err := s.IteratorAt(9, nil, nil, true); !errors.Is(err, ErrHeightNotCommitted) {
		t.Fatalf("IteratorAt(9): %v", err)
	}
}

// applyBlock writes a deterministic pseudo-random block: sets and deletes
// over a small key space so keys get overwritten and removed.
func applyBlock(t testing.TB, s *Store, rng *rand.Rand, n int) {
	t.Helper()
	for range n {
		key := fmt.Appendf(nil, "k%03d", rng.IntN(200))
		if rng.IntN(4) == 0 {
			if err := s.Delete(key); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := s.Set(key, fmt.Appendf(nil, "v%d", rng.Uint64())); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStoresGivenTheSameWritesAgreeAtEveryHeight(t *testing.T) {
	a, _ := openTemp(t, 0)
	b, bdir := openTemp(t, 3) // pruning and reopening must not change hashes
	ra, rb := rand.New(rand.NewPCG(1, 2)), rand.New(rand.NewPCG(1, 2))
	for h := int64(1); h <= 20; h++ {
		applyBlock(t, a, ra, 40)
		applyBlock(t, b, rb, 40)
		if !bytes.Equal(a.WorkingHash(), b.WorkingHash()) {
			t.Fatalf("height %d: working hashes differ", h)
		}
		ha, hb := mustCommit(t, a, h), mustCommit(t, b, h)
		if !bytes.Equal(ha, hb) {
			t.Fatalf("height %d: %X != %X", h, ha, hb)
		}
		if h == 10 {
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			b = openAt(t, Options{Dir: bdir, KeepRecent: 3})
		}
	}
}

func TestPruningKeepsTheRecentHeights(t *testing.T) {
	tests := []struct {
		name       string
		keepRecent int64
		pruned     []int64
		kept       []int64
	}{
		{"KeepRecent 2 keeps the last two of five", 2, []int64{1, 2, 3}, []int64{4, 5}},
		{"KeepRecent 1 keeps only the last", 1, []int64{1, 4}, []int64{5}},
		{"KeepRecent 0 keeps every height", 0, nil, []int64{1, 2, 3, 4, 5}},
		{"KeepRecent above the height prunes nothing", 10, nil, []int64{1, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openAt(t, Options{Dir: dir, KeepRecent: tt.keepRecent})
			for h := int64(1); h <= 5; h++ {
				mustSet(t, s, "k", fmt.Sprint(h), fmt.Sprint("only-", h), "x")
				mustCommit(t, s, h)
			}
			check := func(s *Store) {
				t.Helper()
				for _, h := range tt.pruned {
					if _, err := s.GetAt(h, []byte("k")); !errors.Is(err, ErrHeightPruned) {
						t.Errorf("GetAt(%d) = %v, want ErrHeightPruned", h, err)
					}
					if _, _, err := s.ProveAt(h, []byte("k")); !errors.Is(err, ErrHeightPruned) {
						t.Errorf("ProveAt(%d) = %v, want ErrHeightPruned", h, err)
					}
				}
				for _, h := range tt.kept {
					got, err := s.GetAt(h, []byte("k"))
					if err != nil || string(got) != fmt.Sprint(h) {
						t.Errorf("GetAt(%d) = %q, %v", h, got, err)
					}
				}
			}
			check(s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			check(openAt(t, Options{Dir: dir, KeepRecent: tt.keepRecent}))
		})
	}
}

func TestPruningWaitsForOpenIterators(t *testing.T) {
	s, _ := openTemp(t, 1)
	mustSet(t, s, "a", "1", "b", "1")
	mustCommit(t, s, 1)
	it, err := s.IteratorAt(1, nil, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	for h := int64(2); h <= 3; h++ {
		mustSet(t, s, "a", fmt.Sprint(h), "b", fmt.Sprint(h))
		mustCommit(t, s, h)
	}
	if got := iterate(t, it, nil); fmt.Sprint(got) != "[a=1 b=1]" {
		t.Fatalf("iterator over height 1 read %q", got)
	}
	mustCommit(t, s, 4)
	if _, err := s.GetAt(1, []byte("a")); !errors.Is(err, ErrHeightPruned) {
		t.Fatalf("height 1 not pruned once its iterator closed: %v", err)
	}
	if _, err := s.GetAt(3, []byte("a")); !errors.Is(err, ErrHeightPruned) {
		t.Fatalf("height 3 not pruned: %v", err)
	}
}

func TestQueriesRunSafelyWhileBlocksCommit(t *testing.T) {
	s, _ := openTemp(t, 2)
	rng := rand.New(rand.NewPCG(3, 4))
	applyBlock(t, s, rng, 50)
	mustCommit(t, s, 1)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	query := func(f func() error) {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := f(); err != nil {
				errc <- err
				return
			}
		}
	}
	wg.Add(3)
	go query(func() error {
		_, err := s.GetAt(0, []byte("k007"))
		return err
	})
	go query(func() error {
		h, hash := s.LastCommit()
		v, p, err := s.ProveAt(h, []byte("k011"))
		if errors.Is(err, ErrHeightPruned) {
			return nil // h was pruned between the two calls
		}
		if err != nil {
			return err
		}
		if v != nil {
			return VerifyMembership(hash, p, []byte("k011"), v)
		}
		return VerifyNonMembership(hash, p, []byte("k011"))
	})
	go query(func() error {
		it, err := s.IteratorAt(0, []byte("k050"), []byte("k100"), true)
		if err != nil {
			return err
		}
		defer it.Close()
		for ; it.Valid(); it.Next() {
			_ = it.Value()
		}
		return it.Error()
	})
	for h := int64(2); h <= 25; h++ {
		s.Rollback()
		applyBlock(t, s, rng, 50)
		mustCommit(t, s, h)
	}
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

func TestAClosedStoreRefusesWorkWithoutPanicking(t *testing.T) {
	s, _ := openTemp(t, 0)
	mustSet(t, s, "a", "1")
	mustCommit(t, s, 1)
	it, err := s.IteratorAt(0, nil, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	tests := []struct {
		name string
		err  error
	}{
		{"Get fails", func() error { _, err := s.Get([]byte("a")); return err }()},
		{"Set fails", s.Set([]byte("a"), []byte("2"))},
		{"Delete fails", s.Delete([]byte("a"))},
		{"Iterator fails", func() error { _, err := s.Iterator(nil, nil, true); return err }()},
		{"Commit fails", func() error { _, err := s.Commit(2); return err }()},
		{"GetAt fails", func() error { _, err := s.GetAt(1, []byte("a")); return err }()},
		{"ProveAt fails", func() error { _, _, err := s.ProveAt(1, []byte("a")); return err }()},
		{"IteratorAt fails", func() error { _, err := s.IteratorAt(1, nil, nil, true); return err }()},
		{"an iterator opened before Close stops", func() error { it.Next(); _ = it.Valid(); return it.Error() }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, ErrClosed) {
				t.Fatalf("err = %v, want ErrClosed", tt.err)
			}
		})
	}
	s.Rollback()
	if s.WorkingHash() != nil {
		t.Fatal("WorkingHash on a closed store is not nil")
	}
	if h, _ := s.LastCommit(); h != 1 {
		t.Fatalf("LastCommit on a closed store = %d", h)
	}
}

func TestInitialHeightSetsTheFirstCommit(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, Options{Dir: dir, InitialHeight: 5})
	mustSet(t, s, "a", "1")
	if _, err := s.Commit(1); !errors.Is(err, ErrBadHeight) {
		t.Fatalf("Commit(1) with InitialHeight 5: %v", err)
	}
	hash := mustCommit(t, s, 5)
	if got, _ := s.GetAt(5, []byte("a")); string(got) != "1" {
		t.Fatalf("GetAt(5) = %q", got)
	}
	if _, err := s.GetAt(4, []byte("a")); !errors.Is(err, ErrHeightPruned) {
		t.Fatalf("GetAt(4) before the initial height: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, initial := range []int64{0, 5} {
		r := openAt(t, Options{Dir: dir, InitialHeight: initial})
		if h, got := r.LastCommit(); h != 5 || !bytes.Equal(got, hash) {
			t.Fatalf("reopened with InitialHeight %d: LastCommit %d %X", initial, h, got)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	r := openAt(t, Options{Dir: dir})
	mustSet(t, r, "b", "2")
	mustCommit(t, r, 6)
}

func TestAnEmptyValueStaysDistinctFromAnAbsentOne(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, Options{Dir: dir})
	mustSet(t, s, "empty", "", "full", "x")
	mustCommit(t, s, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := openAt(t, Options{Dir: dir})
	reads := []struct {
		name string
		get  func() ([]byte, error)
	}{
		{"the working state reads it as empty", func() ([]byte, error) { return r.Get([]byte("empty")) }},
		{"the committed state reads it as empty", func() ([]byte, error) { return r.GetAt(1, []byte("empty")) }},
		{"a committed iterator reads it as empty", func() ([]byte, error) {
			it, err := r.IteratorAt(1, []byte("empty"), nil, true)
			if err != nil {
				return nil, err
			}
			defer it.Close()
			return it.Value(), it.Error()
		}},
	}
	for _, tt := range reads {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.get()
			if err != nil || got == nil || len(got) != 0 {
				t.Fatalf("got %#v, %v; want a non-nil empty value", got, err)
			}
		})
	}
}

func TestABlockOfLargeValuesCommits(t *testing.T) {
	// Far more than Badger's per-transaction cap (15% of the memtable):
	// big values go to the value log, medium ones fill split transactions.
	dir := t.TempDir()
	s := openAt(t, Options{Dir: dir})
	big := bytes.Repeat([]byte{0xB1}, 1<<20)
	medium := bytes.Repeat([]byte{0x3E}, 3<<10)
	for i := range 12 {
		if err := s.Set(fmt.Appendf(nil, "big-%02d", i), big); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3000 {
		if err := s.Set(fmt.Appendf(nil, "medium-%04d", i), medium); err != nil {
			t.Fatal(err)
		}
	}
	hash := mustCommit(t, s, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := openAt(t, Options{Dir: dir})
	if _, got := r.LastCommit(); !bytes.Equal(got, hash) {
		t.Fatal("app hash changed across reopen")
	}
	for _, k := range []string{"big-00", "big-11", "medium-0000", "medium-2999"} {
		v, err := r.GetAt(1, []byte(k))
		if err != nil || (!bytes.Equal(v, big) && !bytes.Equal(v, medium)) {
			t.Fatalf("%s: %d bytes, %v", k, len(v), err)
		}
	}
}

func TestHashAtReturnsEachHeightsAppHash(t *testing.T) {
	s, _ := openTemp(t, 0)
	mustSet(t, s, "a", "1")
	h1 := mustCommit(t, s, 1)
	mustSet(t, s, "a", "2")
	h2 := mustCommit(t, s, 2)
	tests := []struct {
		name   string
		height int64
		want   []byte
	}{
		{"height 1 has its own hash", 1, h1},
		{"height 2 has its own hash", 2, h2},
		{"height 0 means the latest", 0, h2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.HashAt(tt.height)
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("HashAt = %X, %v; want %X", got, err, tt.want)
			}
			got[0] ^= 0xFF // a copy: must not touch the store
		})
	}
	if got, _ := s.HashAt(1); !bytes.Equal(got, h1) {
		t.Fatal("HashAt returned the store's own memory")
	}
	if _, err := s.HashAt(3); !errors.Is(err, ErrHeightNotCommitted) {
		t.Fatalf("HashAt(3) = %v", err)
	}
}
