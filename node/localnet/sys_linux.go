package localnet

import "syscall"

// sysProcAttr makes the kernel kill a validator if its parent dies, so a
// crashed test or demo leaves no orphan nodes behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
