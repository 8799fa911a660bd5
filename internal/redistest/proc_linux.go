package redistest

import "syscall"

// killWithParent makes the kernel kill redis-server when the test binary
// dies, even by SIGKILL, so a crashed test run leaves no server behind.
func killWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
