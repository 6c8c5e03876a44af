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

// Get implements Vault.
func (l *VaultLease) Get(recordID []byte) ([]byte, []byte, error) {
	v, err := l.acquire()
	if errors.Is(err, errNoVault) {
		return nil, nil, fmt.Errorf("%w (%v)", vault.ErrNotFound, err)
	}
	if err != nil {
		return nil, nil, err
	}
	defer l.release()
	return v.Get(recordID)
}

// List implements Vault.
func (l *VaultLease) List() ([][]byte, error) {
	v, err := l.acquire()
	if errors.Is(err, errNoVault) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer l.release()
	return v.List()
}

// Erase implements Vault.
func (l *VaultLease) Erase(recordID []byte) error {
	v, err := l.acquire()
	if errors.Is(err, errNoVault) {
		return nil
	}
	if err != nil {
		return err
	}
	defer l.release()
	return v.Erase(recordID)
}

// ShreddedThrough implements ShredMark; a home without a vault has no mark.
func (l *VaultLease) ShreddedThrough() (int64, error) {
	v, err := l.acquire()
	if errors.Is(err, errNoVault) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer l.release()
	return v.ShreddedThrough()
}

// SetShreddedThrough implements ShredMark; without a vault there is
// nothing to mark.
func (l *VaultLease) SetShreddedThrough(height int64) error {
	v, err := l.acquire()
	if errors.Is(err, errNoVault) {
		return nil
	}
	if err != nil {
		return err
	}
	defer l.release()
	return v.SetShreddedThrough(height)
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
