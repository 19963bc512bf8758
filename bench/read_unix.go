//go:build unix

package bench

import (
	"io"
	"net"
	"syscall"
)

// readPooled waits until conn is readable, then reads into a buffer from the pool and
// returns it (the caller puts it back). An idle connection holds no buffer: the wait
// happens on the runtime's poller through syscall.RawConn, and the buffer is taken only
// once bytes are there.
func readPooled(conn *net.TCPConn) (*[]byte, int, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, 0, err
	}
	var (
		bp   *[]byte
		n    int
		rerr error
	)
	err = rc.Read(func(fd uintptr) bool {
		b := bufPool.Get().(*[]byte)
		for {
			n, rerr = syscall.Read(int(fd), *b)
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			bufPool.Put(b)
			return false
		}
		bp = b
		return true
	})
	if err != nil {
		if bp != nil {
			bufPool.Put(bp)
		}
		return nil, 0, err
	}
	if rerr != nil {
		bufPool.Put(bp)
		return nil, 0, rerr
	}
	if n <= 0 {
		bufPool.Put(bp)
		return nil, 0, io.EOF
	}
	return bp, n, nil
}
