//go:build !linux

package redistest

import "syscall"

// killWithParent has no portable equivalent outside Linux: Main's Stop is
// what ends the server there.
func killWithParent() *syscall.SysProcAttr { return nil }
