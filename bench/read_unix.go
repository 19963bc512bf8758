//go:build unix

package bench

import (
	"io"
	"net"
	"syscall"
)

// reader reads a subscriber's socket. It waits until the socket is readable on the
// runtime's poller through syscall.RawConn and only then takes a buffer from the pool, so an
// idle connection holds no buffer. It is made once per connection: a read allocates
// nothing (a RawConn or a closure per read would, and at 10,000 events/s the load
// generator's own garbage collection competes with the server for the same cores).
type reader struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool
	bp  *[]byte
	n   int
	err error
}

func newReader(conn *net.TCPConn) (*reader, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &reader{rc: rc}
	r.fn = r.do
	return r, nil
}

func (r *reader) do(fd uintptr) bool {
	b := bufPool.Get().(*[]byte)
	for {
		r.n, r.err = syscall.Read(int(fd), *b)
		if r.err != syscall.EINTR {
			break
		}
	}
	if r.err == syscall.EAGAIN {
		bufPool.Put(b)
		return false
	}
	r.bp = b
	return true
}

// read returns the next bytes in a pooled buffer (the caller puts it back).
func (r *reader) read() (*[]byte, int, error) {
	r.bp, r.n, r.err = nil, 0, nil
	err := r.rc.Read(r.fn)
	bp, n := r.bp, r.n
	r.bp = nil
	switch {
	case err != nil:
		if bp != nil {
			bufPool.Put(bp)
		}
		return nil, 0, err
	case r.err != nil:
		bufPool.Put(bp)
		return nil, 0, r.err
	case n <= 0:
		bufPool.Put(bp)
		return nil, 0, io.EOF
	}
	return bp, n, nil
}
