//go:build !linux

package bench

import "syscall"

// controlNoPort does nothing outside Linux.
func controlNoPort(network, address string, c syscall.RawConn) error { return nil }
