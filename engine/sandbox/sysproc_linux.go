package sandbox

import "syscall"

// runnerAttrs ends a runner with its parent, however the parent ends.
func runnerAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
