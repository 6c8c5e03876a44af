package localnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/genesis"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/keyring"
)

// Cluster runs the validators of a Manifest as OS processes of Bin
// (`medchain start --home … --keyring-backend test`: Generate makes test
// keyrings, which the HE worker unlocks without a passphrase), logging to
// <home>/node.log.
type Cluster struct {
	Bin      string
	Manifest *Manifest
	// ExtraArgs are appended to every `medchain start` (e.g. --log_level).
	ExtraArgs []string

	mu    sync.Mutex
	procs map[int]*proc
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	log  *os.File
}

// NewCluster prepares (does not start) a cluster.
func NewCluster(bin string, m *Manifest) *Cluster {
	return &Cluster{Bin: bin, Manifest: m, procs: map[int]*proc{}}
}

// LogPath is where node i logs.
func (c *Cluster) LogPath(i int) string { return filepath.Join(c.Manifest.Nodes[i].Home, "node.log") }

// Start starts node i. The process is killed if this process dies (Linux).
func (c *Cluster) Start(i int) error { return c.StartEnv(i) }

// StartEnv starts node i with extra environment variables ("K=V"), e.g.
// FAIL_TEST_INDEX to crash it at one of CometBFT's fail points.
func (c *Cluster) StartEnv(i int, env ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.procs[i]; ok {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("node %d is already running", i)
		}
	}
	lf, err := os.OpenFile(c.LogPath(i), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	args := []string{"start", "--home", c.Manifest.Nodes[i].Home, "--keyring-backend", keyring.BackendTest}
	cmd := exec.Command(c.Bin, append(args, c.ExtraArgs...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("start node %d: %w", i, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), log: lf}
	go func() {
		_ = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	c.procs[i] = p
	return nil
}

// StartAll starts every node.
func (c *Cluster) StartAll() error {
	for i := range c.Manifest.Nodes {
		if err := c.Start(i); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) signal(i int, sig syscall.Signal, wait time.Duration) error {
	c.mu.Lock()
	p, ok := c.procs[i]
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("node %d was not started", i)
	}
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(wait):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("node %d did not stop within %s after %s; killed", i, wait, sig)
	}
}

// Kill sends SIGKILL to node i and waits for it to exit.
func (c *Cluster) Kill(i int) error { return c.signal(i, syscall.SIGKILL, 10*time.Second) }

// Pause freezes node i with SIGSTOP: the process stays, but it neither
// votes nor answers until Resume (SIGCONT) or Kill.
func (c *Cluster) Pause(i int) error { return c.send(i, syscall.SIGSTOP) }

// Resume lets a paused node i run again (SIGCONT).
func (c *Cluster) Resume(i int) error { return c.send(i, syscall.SIGCONT) }

// send delivers sig to node i without waiting for anything.
func (c *Cluster) send(i int, sig syscall.Signal) error {
	c.mu.Lock()
	p, ok := c.procs[i]
	c.mu.Unlock()
	if !ok || !c.Running(i) {
		return fmt.Errorf("node %d is not running", i)
	}
	return p.cmd.Process.Signal(sig)
}

// Stop sends SIGTERM (clean shutdown) to node i and waits up to 30 s.
func (c *Cluster) Stop(i int) error { return c.signal(i, syscall.SIGTERM, 30*time.Second) }

// Wait waits for node i's process to exit by itself, up to d.
func (c *Cluster) Wait(i int, d time.Duration) error {
	c.mu.Lock()
	p, ok := c.procs[i]
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("node %d was not started", i)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(d):
		return fmt.Errorf("node %d still running after %s", i, d)
	}
}

// Running reports whether node i's process is alive.
func (c *Cluster) Running(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.procs[i]
	if !ok {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// StopAll stops every running node, cleanly, in parallel.
func (c *Cluster) StopAll() error {
	var wg sync.WaitGroup
	errs := make([]error, len(c.Manifest.Nodes))
	for i := range c.Manifest.Nodes {
		if !c.Running(i) {
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = c.Stop(i)
		}(i)
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Client returns an RPC client for node i.
func (c *Cluster) Client(i int) (*client.Client, error) {
	return client.Dial(c.Manifest.Nodes[i].RPC)
}

// WaitHeight waits until node i reports a committed height >= h.
func (c *Cluster) WaitHeight(ctx context.Context, i int, h int64) (int64, error) {
	cl, err := c.Client(i)
	if err != nil {
		return 0, err
	}
	var last error
	for {
		if !c.Running(i) {
			return 0, fmt.Errorf("node %d exited; see %s", i, c.LogPath(i))
		}
		st, err := cl.RPC().Status(ctx)
		if err == nil && st.SyncInfo.LatestBlockHeight >= h {
			return st.SyncInfo.LatestBlockHeight, nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("node %d did not reach height %d: %w (last error: %v)", i, h, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// WaitKeyCeremony waits until every node has committed the end of the
// alliance's key ceremony (key epoch 1 ready: every member's HE worker
// posted its key share). It returns at once if the genesis has no HE
// section. Call it before sending txs signed by the operator keys, which
// the workers also sign with during the ceremony.
func (c *Cluster) WaitKeyCeremony(ctx context.Context) error {
	conf, err := node.LoadConfig(c.Manifest.Nodes[0].Home, nil)
	if err != nil {
		return err
	}
	_, st, err := genesis.Load(conf.Comet.GenesisFile())
	if err != nil {
		return err
	}
	if st.HE == nil {
		return nil
	}
	for i := range c.Manifest.Nodes {
		cl, err := c.Client(i)
		if err != nil {
			return err
		}
		for {
			q, err := cl.Query(ctx, "/he/epoch/1", 0, false)
			var ep pb.KeyEpoch
			if err == nil && q.Value != nil && tx.Unmarshal(q.Value, &ep) == nil && ep.Ready {
				break
			}
			if !c.Running(i) {
				return fmt.Errorf("node %d exited; see %s", i, c.LogPath(i))
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("node %d: key epoch 1 not ready (posted %v of %v): %w", i, ep.Posted, ep.Members, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// AppHashes returns, for each given node, the app hash its own state store
// computed for height h (the "/apphash" query), and the header app hash of
// block h+1 as that node stored it.
func (c *Cluster) AppHashes(ctx context.Context, nodes []int, h int64) (app, header [][]byte, err error) {
	for _, i := range nodes {
		cl, err := c.Client(i)
		if err != nil {
			return nil, nil, err
		}
		q, err := cl.Query(ctx, "/apphash", h, false)
		if err != nil {
			return nil, nil, fmt.Errorf("node %d: %w", i, err)
		}
		next := h + 1
		cm, err := cl.RPC().Commit(ctx, &next)
		if err != nil {
			return nil, nil, fmt.Errorf("node %d header %d: %w", i, next, err)
		}
		app = append(app, q.Value)
		header = append(header, cm.Header.AppHash)
	}
	return app, header, nil
}
