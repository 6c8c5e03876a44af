package keyring

import (
	"sync"

	"golang.org/x/crypto/argon2"
)

// A Keyring stretches each passphrase once per process, not once per file.
// Every file this Keyring seals under one passphrase gets the same random
// salt — drawn when the Keyring first seals with that passphrase — and so
// the same Argon2id key; each file keeps its own random 24-byte XChaCha20
// nonce, so one key sealing many files is safe (random nonces of that size
// do not repeat). Opening a file whose cost, salt and passphrase were seen
// before in this process reuses the derived key. A hospital's patient
// keyring holds two keys per patient: with a file-backend cost of
// Argon2id t=3, 64 MiB, one stretch per key would take hours for a large
// import; with the cache it is one stretch per run. Files are unchanged:
// older files, with a salt each, still open (one stretch each).

// maxDerivedKeys bounds the cache: a process meets few passphrases and
// sessions; beyond it, keys are derived again.
const maxDerivedKeys = 64

type kdfCache struct {
	mu      sync.Mutex
	session map[string]kdfParams // passphrase → the params (with salt) this Keyring seals with
	keys    map[string][]byte    // params AAD + passphrase → derived key
}

func cacheID(pass string, p kdfParams) string {
	return string(p.appendAAD(nil)) + "\x00" + pass
}

// sealParams returns the KDF params and key to seal a new file under pass.
func (c *kdfCache) sealParams(pass string, cost kdfParams) (kdfParams, []byte, error) {
	c.mu.Lock()
	p, ok := c.session[pass]
	c.mu.Unlock()
	if !ok || p.Time != cost.Time || p.Memory != cost.Memory || p.Threads != cost.Threads {
		var err error
		if p, err = cost.withFreshSalt(); err != nil {
			return kdfParams{}, nil, err
		}
		c.mu.Lock()
		if c.session == nil {
			c.session = map[string]kdfParams{}
		}
		if len(c.session) >= maxDerivedKeys {
			clear(c.session)
		}
		c.session[pass] = p
		c.mu.Unlock()
	}
	return p, c.key(pass, p), nil
}

// key returns the Argon2id key of pass under p (valid), derived once.
// The cache owns it: callers must not clear or keep it.
func (c *kdfCache) key(pass string, p kdfParams) []byte {
	id := cacheID(pass, p)
	c.mu.Lock()
	k, ok := c.keys[id]
	c.mu.Unlock()
	if ok {
		return k
	}
	pw := []byte(pass)
	k = argon2.IDKey(pw, p.Salt, p.Time, p.Memory, p.Threads, aeadKeySize)
	clear(pw)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil {
		c.keys = map[string][]byte{}
	}
	if len(c.keys) >= maxDerivedKeys {
		for id, old := range c.keys {
			clear(old)
			delete(c.keys, id)
		}
	}
	c.keys[id] = k
	return k
}
