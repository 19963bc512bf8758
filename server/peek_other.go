//go:build !linux

package server

// Peeking at a connection's first bytes is Linux-only (MSG_PEEK through syscall.RawConn);
// elsewhere Herald's HTTP/2 engine is off and the standard server takes every connection.

import (
	"errors"
	"net"
	"syscall"
	"time"
)

var syscallEMFILE = syscall.EMFILE

// peekPreface is only used where Herald's HTTP/2 engine runs (Linux); elsewhere the
// standard server serves HTTP/2 and nothing is peeked.
func peekPreface(net.Conn, time.Time) (bool, error) {
	return false, errors.New("server: peeking needs Linux")
}
