//go:build linux

package server

// Peeking at a cleartext connection's first bytes without consuming them (MSG_PEEK), so
// that the standard server reads an HTTP/1.1 request from the untouched socket.

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"golang.org/x/net/http2"
)

var syscallEMFILE = syscall.EMFILE

// peekPreface reports whether nc starts with the HTTP/2 client preface, waiting until
// deadline for enough bytes to tell. It reads nothing off the socket. A connection that
// starts with "PRI " but goes on otherwise gets errBadPreface. HTTP/1.1 requests are
// told apart at their first byte that differs from the preface, as before.
func peekPreface(nc net.Conn, deadline time.Time) (bool, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, err
	}
	_ = nc.SetReadDeadline(deadline)
	defer func() { _ = nc.SetReadDeadline(time.Time{}) }()
	preface := []byte(http2.ClientPreface)
	var buf [len(http2.ClientPreface)]byte
	var n int
	var perr error
	var h2, decided bool
	err = rc.Read(func(fd uintptr) bool {
		n, _, perr = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK)
		switch {
		case perr == syscall.EAGAIN || perr == syscall.EINTR:
			perr = nil
			return false // wait for bytes
		case perr != nil:
			return true
		case n == 0:
			perr = io.EOF
			return true
		case !bytes.HasPrefix(preface, buf[:n]):
			if n >= 4 && string(buf[:4]) == "PRI " {
				perr = errBadPreface
			}
			decided = true
			return true
		case n == len(preface):
			h2, decided = true, true
			return true
		}
		return false // a prefix of the preface: wait for the rest
	})
	if err != nil {
		return false, err
	}
	if perr != nil {
		return false, perr
	}
	if !decided {
		return false, errors.New("server: peek undecided")
	}
	return h2, nil
}
