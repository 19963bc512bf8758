//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// epollReader reads the open streams of a group from a few goroutines (one per core), each
// with its own edge-triggered epoll instance, instead of a goroutine per connection on the
// runtime's poller. The runtime's way costs, per event, a goroutine wake-up and two read(2)
// calls (the one that returns the bytes and the one that returns EAGAIN before the
// goroutine parks); here one epoll_wait returns every connection with bytes and each gets
// one read: a read shorter than the buffer emptied the socket, and bytes that arrive after
// it signal the epoll instance again. On two cores shared with the server that is CPU the
// server gets back.
//
// A session hands its connection over once the response head is read: the reader takes a
// duplicate of the socket and the net.Conn is closed (which removes it from the runtime's
// poller), and the session goroutine waits until the stream breaks or the run ends.
type epollReader struct {
	loops []*epollLoop
	wg    sync.WaitGroup
}

type epollLoop struct {
	epfd int
	buf  []byte
	evs  []syscall.EpollEvent

	mu      sync.Mutex // held while a batch of ready sockets is read
	streams map[int32]*handed
	stopped bool
}

// feeder is a stream being read: it parses each read's bytes and says when the stream is
// over (errEnded for a normal end).
type feeder interface {
	feed(b []byte) error
}

// handed is a stream the reader owns.
type handed struct {
	f    feeder
	fd   int
	done chan error // receives why the stream ended, once
}

// epollWaitMs bounds a loop's wait so that it sees stop.
const epollWaitMs = 100

func newEpollReader() (*epollReader, error) {
	r := &epollReader{}
	for range max(runtime.GOMAXPROCS(0), 1) {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			r.stop()
			return nil, fmt.Errorf("bench: epoll: %w", err)
		}
		l := &epollLoop{epfd: epfd, buf: make([]byte, readBufSize), evs: make([]syscall.EpollEvent, 256),
			streams: make(map[int32]*handed)}
		r.loops = append(r.loops, l)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			l.run()
		}()
	}
	return r, nil
}

// stop ends the loops (after every stream was released) and closes their epoll instances.
func (r *epollReader) stop() {
	for _, l := range r.loops {
		l.mu.Lock()
		l.stopped = true
		l.mu.Unlock()
	}
	r.wg.Wait()
	for _, l := range r.loops {
		syscall.Close(l.epfd)
	}
}

// serve takes over conn, whose stream f has opened, and reads it until the stream breaks
// (the error says why) or ctx ends. conn is closed on return either way.
func (r *epollReader) serve(ctx context.Context, f feeder, conn *net.TCPConn) error {
	h, err := r.attach(f, conn)
	if err != nil {
		return err
	}
	return r.wait(ctx, h)
}

// attach takes over conn, whose stream f has opened, and starts reading it; conn is closed
// (the reader holds a duplicate of the socket). wait returns when the stream ends.
func (r *epollReader) attach(f feeder, conn *net.TCPConn) (*handed, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(sysfd uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, sysfd, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			derr = e
			return
		}
		fd = int(r)
	}); err != nil || derr != nil {
		conn.Close()
		return nil, errors.Join(err, derr)
	}
	conn.Close() // the duplicate keeps the socket open; the runtime's poller lets go of it
	h := &handed{f: f, fd: fd, done: make(chan error, 1)}
	l := r.loops[fd%len(r.loops)]
	l.mu.Lock()
	l.streams[int32(fd)] = h
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | -syscall.EPOLLET, Fd: int32(fd)}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		delete(l.streams, int32(fd))
		l.mu.Unlock()
		syscall.Close(fd)
		return nil, fmt.Errorf("bench: epoll add: %w", err)
	}
	// Bytes that came with the response head, before the registration, raised no edge.
	l.readLocked(h, true)
	l.mu.Unlock()
	return h, nil
}

// wait returns why h's stream ended, or ctx's error after ending it when ctx ends first.
func (r *epollReader) wait(ctx context.Context, h *handed) error {
	l := r.loops[h.fd%len(r.loops)]
	fd := h.fd
	select {
	case err := <-h.done:
		return err
	case <-ctx.Done():
		l.mu.Lock()
		if l.streams[int32(fd)] == h {
			l.releaseLocked(h, ctx.Err())
		}
		l.mu.Unlock()
		return <-h.done
	}
}

func (l *epollLoop) run() {
	for {
		n, err := syscall.EpollWait(l.epfd, l.evs, epollWaitMs)
		l.mu.Lock()
		if l.stopped {
			l.mu.Unlock()
			return
		}
		if err != nil && err != syscall.EINTR {
			l.mu.Unlock()
			time.Sleep(10 * time.Millisecond)
			continue
		}
		for i := 0; i < n; i++ {
			ev := &l.evs[i]
			if h := l.streams[ev.Fd]; h != nil {
				// On a hang-up, read to the end: no later edge would report it.
				l.readLocked(h, ev.Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0)
			}
		}
		l.mu.Unlock()
	}
}

// readLocked reads h's socket until a read comes back short (the socket is empty for now),
// or, with all, until EAGAIN; it releases h when the stream ends.
func (l *epollLoop) readLocked(h *handed, all bool) {
	for {
		n, err := syscall.Read(h.fd, l.buf)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return
		case err != nil:
			l.releaseLocked(h, err)
			return
		case n == 0:
			l.releaseLocked(h, io.EOF)
			return
		}
		if ferr := h.f.feed(l.buf[:n]); ferr != nil {
			l.releaseLocked(h, ferr)
			return
		}
		if n < len(l.buf) && !all {
			return
		}
	}
}

// releaseLocked stops reading h, closes its socket and tells its session why.
func (l *epollLoop) releaseLocked(h *handed, why error) {
	delete(l.streams, int32(h.fd))
	_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, h.fd, nil)
	syscall.Close(h.fd)
	h.done <- why
}
