package gateway

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/medchain/medchain/node/vault"
)

// Vault is what the gateway and the shredder need of the hospital's vault,
// by raw record id. *vault.Vault and *VaultLease implement it.
type Vault interface {
	// Get returns a record's ciphertext and the custodian's sealed copy of
	// its data key; vault.ErrNotFound or vault.ErrErased if it has none.
	Get(recordID []byte) (ciphertext, sealedKey []byte, err error)
	// List returns the ids of the records the vault holds.
	List() ([][]byte, error)
	// Erase crypto-shreds a record; erasing again is a no-op.
	Erase(recordID []byte) error
}

var (
	_ Vault     = (*vault.Vault)(nil)
	_ Vault     = (*VaultLease)(nil)
	_ ShredMark = (*vault.Vault)(nil)
	_ ShredMark = (*VaultLease)(nil)
)

// ErrVaultBusy: another process (an import, `medchain ingest`) has the
// vault open; the gateway answers 503 and the shredder retries later.
var ErrVaultBusy = errors.New("the vault is in use by another process (an import?); retry shortly")

// VaultLease opens a home's vault only while someone uses it and closes
// it linger after the last user leaves. A vault is one Badger database
// that a single process may hold open, and the relay (`medchain ingest`)
// writes to the same vault while the node runs: holding it only for the
// length of a fetch or a shred lets both work, each waiting for the other
// at worst. Concurrent users in this process share one open vault. A home
// whose vault key does not exist yet has never stored a record: Get
// answers vault.ErrNotFound, List nothing, and Erase does nothing.
type VaultLease struct {
	home   string
	lg     vault.Logger
	linger time.Duration

	mu     sync.Mutex
	v      *vault.Vault
	users  int
	timer  *time.Timer
	closed bool
}

// NewVaultLease returns a lease on home's vault (nothing is opened yet).
// lg receives the vault's warnings; linger is how long the vault stays
// open after its last user (0 closes it at once).
func NewVaultLease(home string, lg vault.Logger, linger time.Duration) *VaultLease {
	if lg == nil {
		lg = nopLogger{}
	}
	return &VaultLease{home: home, lg: lg, linger: linger}
}

// errNoVault: the home has no vault key, hence no vault.
var errNoVault = errors.New("this home has no vault yet")

// acquire opens the vault if needed and counts a user; release undoes it.
func (l *VaultLease) acquire() (*vault.Vault, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, vault.ErrClosed
	}
	if l.v == nil {
		if _, err := os.Stat(vault.VaultKeyPath(l.home)); errors.Is(err, fs.ErrNotExist) {
			return nil, errNoVault
		}
		v, err := vault.Open(l.home, vault.WithLogger(l.lg))
		if err != nil {
			if strings.Contains(err.Error(), "in use by another process") {
				return nil, ErrVaultBusy
			}
			return nil, err
		}
		l.v = v
	}
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.users++
	return l.v, nil
}

func (l *VaultLease) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.users--
	if l.users > 0 || l.v == nil {
		return
	}
	if l.linger <= 0 || l.closed {
		l.closeLocked()
		return
	}
	v := l.v
	l.timer = time.AfterFunc(l.linger, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.users == 0 && l.v == v {
			l.closeLocked()
		}
	})
}

// closeLocked closes the open vault. The caller holds mu.
func (l *VaultLease) closeLocked() {
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	if l.v != nil {
		if err := l.v.Close(); err != nil {
			l.lg.Error("gateway: close the vault", "err", err)
		}
		l.v = nil
	}
}

// with runs f on the open vault, holding it for the call. A home with no
// vault yet runs nothing and reports found false.
func (l *VaultLease) with(f func(*vault.Vault) error) (found bool, err error) {
	v, err := l.acquire()
	if errors.Is(err, errNoVault) {
		return false, nil
	}
	if err != nil {
		return true, err
	}
	defer l.release()
	return true, f(v)
}

// Get implements Vault.
func (l *VaultLease) Get(recordID []byte) (ciphertext, sealedKey []byte, err error) {
	found, err := l.with(func(v *vault.Vault) (err error) {
		ciphertext, sealedKey, err = v.Get(recordID)
		return err
	})
	if !found {
		return nil, nil, fmt.Errorf("%w (%v)", vault.ErrNotFound, errNoVault)
	}
	return ciphertext, sealedKey, err
}

// List implements Vault.
func (l *VaultLease) List() (ids [][]byte, err error) {
	_, err = l.with(func(v *vault.Vault) (err error) {
		ids, err = v.List()
		return err
	})
	return ids, err
}

// Erase implements Vault.
func (l *VaultLease) Erase(recordID []byte) error {
	_, err := l.with(func(v *vault.Vault) error { return v.Erase(recordID) })
	return err
}

// ShreddedThrough implements ShredMark; a home without a vault has no mark.
func (l *VaultLease) ShreddedThrough() (height int64, err error) {
	_, err = l.with(func(v *vault.Vault) (err error) {
		height, err = v.ShreddedThrough()
		return err
	})
	return height, err
}

// SetShreddedThrough implements ShredMark; without a vault there is
// nothing to mark.
func (l *VaultLease) SetShreddedThrough(height int64) error {
	_, err := l.with(func(v *vault.Vault) error { return v.SetShreddedThrough(height) })
	return err
}

// Close closes the vault once its current users leave (they hold it
// through their call) and refuses later calls with vault.ErrClosed.
func (l *VaultLease) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.users == 0 {
		l.closeLocked()
	}
}

type nopLogger struct{}

func (nopLogger) Info(string, ...any)  {}
func (nopLogger) Error(string, ...any) {}
