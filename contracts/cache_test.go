package contracts

import (
	"errors"
	"slices"
	"testing"
)

func TestCacheReadsItsOwnWritesBeforeTheParent(t *testing.T) {
	parent := newMemStore("a", "parent-a", "b", "parent-b", "c", "parent-c")
	c := NewCache(parent)
	must(t, c.Set([]byte("a"), []byte("cache-a")))
	must(t, c.Delete([]byte("b")))
	must(t, c.Set([]byte("d"), []byte("cache-d")))

	tests := []struct {
		name, key string
		want      []byte // nil = absent
	}{
		{"a key set in the cache reads the cached value", "a", []byte("cache-a")},
		{"a key deleted in the cache reads as absent", "b", nil},
		{"an untouched key reads through to the parent", "c", []byte("parent-c")},
		{"a key only in the cache reads the cached value", "d", []byte("cache-d")},
		{"a key nowhere reads as absent", "z", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Get([]byte(tt.key))
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tt.want == nil) || string(got) != string(tt.want) {
				t.Fatalf("Get(%s) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
	if len(parent.ops) != 0 {
		t.Fatalf("the parent was written before Write: %v", parent.ops)
	}
}

func TestCacheRefusesEmptyKeysAndValues(t *testing.T) {
	tests := []struct {
		name string
		op   func(c *Cache) error
	}{
		{"a Set with a nil key is refused", func(c *Cache) error { return c.Set(nil, []byte("v")) }},
		{"a Delete with an empty key is refused", func(c *Cache) error { return c.Delete([]byte{}) }},
		// ICS23 cannot prove an empty value, so state never holds one.
		{"a Set of a nil value is refused", func(c *Cache) error { return c.Set([]byte("k"), nil) }},
		{"a Set of an empty value is refused", func(c *Cache) error { return c.Set([]byte("k"), []byte{}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := newMemStore()
			c := NewCache(parent)
			if err := tt.op(c); err == nil {
				t.Fatal("succeeded")
			}
			must(t, c.Write())
			if len(parent.ops) != 0 {
				t.Fatalf("a refused write reached the parent: %v", parent.ops)
			}
		})
	}
}

func TestCacheCopiesWhatItIsGivenAndReturns(t *testing.T) {
	c := NewCache(newMemStore())
	v := []byte("value")
	must(t, c.Set([]byte("k"), v))
	v[0] = 'X'
	if got, _ := c.Get([]byte("k")); string(got) != "value" {
		t.Fatalf("a caller's later change to its slice reached the cache: %q", got)
	}

	got, _ := c.Get([]byte("k"))
	got[0] = 'Y'
	it, err := c.Iterator(nil, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	it.Value()[0] = 'Z'
	must(t, it.Close())
	if again, _ := c.Get([]byte("k")); string(again) != "value" {
		t.Fatalf("changing what Get or Value returned changed the buffered write: %q", again)
	}
}

func TestCacheWriteAppliesInSortedKeyOrder(t *testing.T) {
	parent := newMemStore("m", "old", "x", "old")
	c := NewCache(parent)
	// Written out of order, overwritten, deleted: only the final value of
	// each key reaches the parent, in key order.
	for _, k := range []string{"z", "b", "m", "a", "y", "b"} {
		must(t, c.Set([]byte(k), []byte("v-"+k)))
	}
	must(t, c.Delete([]byte("x")))
	must(t, c.Delete([]byte("y")))
	must(t, c.Set([]byte("m"), []byte("new")))

	must(t, c.Write())
	want := []string{"set a=v-a", "set b=v-b", "set m=new", "del x", "del y", "set z=v-z"}
	if !slices.Equal(parent.ops, want) {
		t.Fatalf("parent received %v, want %v", parent.ops, want)
	}

	t.Run("an emptied cache writes nothing more", func(t *testing.T) {
		parent.ops = nil
		must(t, c.Write())
		if len(parent.ops) != 0 {
			t.Fatalf("a second Write sent %v", parent.ops)
		}
	})
	t.Run("after Write the cache reads through to the parent", func(t *testing.T) {
		if got, _ := c.Get([]byte("m")); string(got) != "new" {
			t.Fatalf("Get(m) = %q, want new", got)
		}
		if got, _ := c.Get([]byte("x")); got != nil {
			t.Fatalf("Get(x) = %q, want absent", got)
		}
	})
}

func TestCacheWriteReportsAParentFailure(t *testing.T) {
	parent := newMemStore()
	parent.failOn = "b"
	c := NewCache(parent)
	for _, k := range []string{"a", "b", "c"} {
		must(t, c.Set([]byte(k), []byte("v")))
	}
	if err := c.Write(); !errors.Is(err, errInjected) {
		t.Fatalf("Write = %v, want the parent's error", err)
	}
}

func TestCacheDroppedWithoutWriteChangesNothing(t *testing.T) {
	parent := newMemStore("a", "1")
	c := NewCache(parent)
	must(t, c.Set([]byte("a"), []byte("2")))
	must(t, c.Delete([]byte("a")))
	if len(parent.ops) != 0 || string(parent.data["a"]) != "1" {
		t.Fatalf("the parent changed without Write: %v", parent.ops)
	}
}

func TestCacheIteratorMergesParentAndWrites(t *testing.T) {
	parent := newMemStore("a", "p", "b", "p", "c", "p", "d", "p", "f", "p")
	c := NewCache(parent)
	must(t, c.Set([]byte("b"), []byte("w")))  // overrides the parent
	must(t, c.Delete([]byte("c")))            // hides the parent's key
	must(t, c.Set([]byte("e"), []byte("w")))  // only in the cache
	must(t, c.Delete([]byte("x")))            // deleting an absent key is harmless
	must(t, c.Set([]byte("aa"), []byte("w"))) // sorts between a and b

	tests := []struct {
		name       string
		start, end []byte
		ascending  bool
		want       []string
	}{
		{"an open range lists the merged state in order", nil, nil, true,
			[]string{"a=p", "aa=w", "b=w", "d=p", "e=w", "f=p"}},
		{"an open range in reverse lists it backwards", nil, nil, false,
			[]string{"f=p", "e=w", "d=p", "b=w", "aa=w", "a=p"}},
		{"the start bound is inclusive and the end exclusive", []byte("b"), []byte("e"), true,
			[]string{"b=w", "d=p"}},
		{"a reverse bounded range keeps the same bounds", []byte("b"), []byte("e"), false,
			[]string{"d=p", "b=w"}},
		{"a cache write at the end bound is left out", []byte("a"), []byte("aa"), true,
			[]string{"a=p"}},
		{"a cache write at the start bound is kept", []byte("aa"), []byte("b"), true,
			[]string{"aa=w"}},
		{"an open start stops at the end bound", nil, []byte("b"), true,
			[]string{"a=p", "aa=w"}},
		{"an open end starts at the start bound", []byte("d"), nil, true,
			[]string{"d=p", "e=w", "f=p"}},
		{"a range holding only a deleted key is empty", []byte("c"), []byte("d"), true, nil},
		{"a range past every key is empty", []byte("g"), nil, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it, err := c.Iterator(tt.start, tt.end, tt.ascending)
			if err != nil {
				t.Fatal(err)
			}
			got, err := collect(it)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCacheIteratorIsASnapshot(t *testing.T) {
	c := NewCache(newMemStore("a", "1"))
	it, err := c.Iterator(nil, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	must(t, c.Set([]byte("b"), []byte("2")))
	must(t, c.Delete([]byte("a")))
	got, err := collect(it)
	if err != nil || !slices.Equal(got, []string{"a=1"}) {
		t.Fatalf("got %v, %v; want the state when the iterator was made", got, err)
	}
}

func TestCacheIteratorReportsAParentFailure(t *testing.T) {
	parent := newMemStore("a", "1")
	parent.iterErr = errInjected
	if _, err := NewCache(parent).Iterator(nil, nil, true); !errors.Is(err, errInjected) {
		t.Fatalf("Iterator = %v, want the parent's error", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
