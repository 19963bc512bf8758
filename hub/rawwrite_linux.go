//go:build linux

package hub

// The raw socket writer: one non-blocking write(2) on a detached stream's socket through
// syscall.RawConn, never waiting for readiness (a full socket goes to a flusher, pool.go).

import "syscall"

// rawWriter writes with one non-blocking write(2) through syscall.RawConn. It is reused,
// so a write allocates nothing (a closure per call would).
type rawWriter struct {
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

func (w *rawWriter) do(fd uintptr) bool {
	for {
		w.n, w.err = syscall.Write(int(fd), w.b)
		if w.err != syscall.EINTR {
			return true // never wait for the poller: a full socket goes to a flusher
		}
	}
}

// write writes b once. It returns how much was written (0 when the socket buffer is full)
// and any error other than EAGAIN.
func (w *rawWriter) write(rc syscall.RawConn, b []byte) (int, error) {
	if w.fn == nil {
		w.fn = w.do
	}
	w.b, w.n, w.err = b, 0, nil
	err := rc.Write(w.fn)
	w.b = nil
	switch {
	case err != nil:
		return 0, err
	case w.err == syscall.EAGAIN:
		return 0, nil
	case w.err != nil:
		return 0, w.err
	case w.n < 0:
		return 0, nil
	}
	return w.n, nil
}
