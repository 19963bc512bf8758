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

// peekKind is only used where Herald's HTTP/2 engine runs (Linux); elsewhere the standard
// server serves HTTP/2 and nothing is peeked.
func peekKind(net.Conn, time.Time) (connKind, error) {
	return kindStd, errors.New("server: peeking needs Linux")
}
