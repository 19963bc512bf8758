//go:build linux

package server

// Peeking at a cleartext connection's first bytes without consuming them (MSG_PEEK), so
// that the server chosen reads the request from the untouched socket.

import (
	"errors"
	"io"
	"net"
	"syscall"
	"time"
)

var syscallEMFILE = syscall.EMFILE

// peekKind tells, from its first bytes, which server takes nc, waiting until deadline for
// enough bytes to tell. It reads nothing off the socket. A connection that starts with
// "PRI " but is not the HTTP/2 client preface gets errBadPreface.
func peekKind(nc net.Conn, deadline time.Time) (connKind, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return kindStd, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return kindStd, err
	}
	_ = nc.SetReadDeadline(deadline)
	defer func() { _ = nc.SetReadDeadline(time.Time{}) }()
	var buf [peekLen]byte
	var kind connKind
	var perr error
	var decided bool
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK)
		switch {
		case rerr == syscall.EAGAIN || rerr == syscall.EINTR:
			return false // wait for bytes
		case rerr != nil:
			perr = rerr
			return true
		case n == 0:
			perr = io.EOF
			return true
		}
		kind, decided, perr = classify(buf[:n])
		return decided || perr != nil
	})
	if err != nil {
		return kindStd, err
	}
	if perr != nil {
		return kindStd, perr
	}
	if !decided {
		return kindStd, errors.New("server: peek undecided")
	}
	return kind, nil
}
