//go:build !linux

package hub

// The raw socket writer is not available off Linux: CanDetach reports false and no
// detached stream exists to write to.

import "syscall"

type rawWriter struct{}

func (*rawWriter) write(syscall.RawConn, []byte) (int, error) { return 0, errNoPool }
