package store

import "bytes"

// HashAt returns the app hash of committed height (0 = latest), as this
// store computed it. Auditors and the localnet compare it across nodes.
func (s *Store) HashAt(height int64) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, _, err := s.versionAt(height)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(t.Hash()), nil // t.Hash is IAVL's cached root hash
}
