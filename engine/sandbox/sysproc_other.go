//go:build !linux

package sandbox

import "syscall"

// runnerAttrs: only Linux can tie a runner's life to its parent's; elsewhere a runner ends when its input closes.
func runnerAttrs() *syscall.SysProcAttr { return nil }
