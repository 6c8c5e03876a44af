package gateway

import (
	"container/heap"
	"sync"
)

// nonceCache remembers the nonces of authenticated requests until their
// timestamps leave the clock-skew window, after which the timestamp check
// refuses a replay on its own. It is bounded: when every slot holds a
// nonce still in its window, add refuses rather than forget one (which
// would let its request be replayed).
type nonceCache struct {
	mu     sync.Mutex
	max    int
	expiry map[nonceKey]int64 // Unix seconds after which the nonce may be forgotten
	queue  expiryQueue
}

// nonceKey is one doctor's nonce.
type nonceKey struct {
	doctor string
	nonce  string
}

func newNonceCache(max int) *nonceCache {
	return &nonceCache{max: max, expiry: map[nonceKey]int64{}}
}

// prune forgets the nonces whose window ended before now. The caller holds mu.
func (c *nonceCache) prune(now int64) {
	for len(c.queue) > 0 && c.queue[0].expiry < now {
		e := heap.Pop(&c.queue).(queued)
		delete(c.expiry, e.key)
	}
}

// seen reports whether k was recorded and is still in its window.
func (c *nonceCache) seen(k nonceKey, now int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune(now)
	_, ok := c.expiry[k]
	return ok
}

// add records k until expiry. It reports replayed if k is already
// recorded, and full if the cache cannot take another nonce now.
func (c *nonceCache) add(k nonceKey, expiry, now int64) (replayed, full bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune(now)
	if _, ok := c.expiry[k]; ok {
		return true, false
	}
	if len(c.expiry) >= c.max {
		return false, true
	}
	c.expiry[k] = expiry
	heap.Push(&c.queue, queued{key: k, expiry: expiry})
	return false, false
}

// len is the number of nonces held.
func (c *nonceCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.expiry)
}

type queued struct {
	key    nonceKey
	expiry int64
}

// expiryQueue is a min-heap by expiry (container/heap).
type expiryQueue []queued

func (q expiryQueue) Len() int           { return len(q) }
func (q expiryQueue) Less(i, j int) bool { return q[i].expiry < q[j].expiry }
func (q expiryQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *expiryQueue) Push(x any)        { *q = append(*q, x.(queued)) }
func (q *expiryQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}
