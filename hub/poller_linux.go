//go:build linux

package hub

// The poller: client closes on detached streams seen without a reader goroutine, by one
// edge-triggered epoll instance and one goroutine per hub.

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
)

// maxJunk bounds what a client may send on a detached stream (it has nothing to say after
// its request); a client over it is cut off.
const maxJunk = 64 << 10

// epollET is EPOLLET as the uint32 that EpollEvent.Events holds.
const epollET = uint32(1) << 31

// poller watches detached sockets for the peer's close with one epoll instance and one
// goroutine per hub. Each registration carries the connection's id, never its fd: an fd is
// reused by the kernel as soon as it is closed, an id never is, so a stale event can only
// miss (the id is gone from the map), never hit another connection. A socket leaves epoll
// before it is closed.
type poller struct {
	h     *Hub
	epfd  int
	wakeR int // a pipe's read end in the epoll set, to stop run
	wakeW int
	mu    sync.Mutex // guards conns and, against close, the descriptors
	conns map[uint64]*Conn
	buf   []byte // run only: where discarded client bytes are read into
}

// wakeID is the epoll id of the pipe that stops run; connection ids start at 1.
const wakeID = 0

func newPoller(h *Hub) (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("pipe2: %w", err)
	}
	p := &poller{h: h, epfd: epfd, wakeR: fds[0], wakeW: fds[1], conns: make(map[uint64]*Conn), buf: make([]byte, 4096)}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	setEventID(&ev, wakeID)
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wakeR, &ev); err != nil {
		p.close()
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	return p, nil
}

func setEventID(ev *syscall.EpollEvent, id uint64) {
	ev.Fd, ev.Pad = int32(uint32(id)), int32(uint32(id>>32))
}

func eventID(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// add starts watching c's socket.
func (p *poller) add(c *Conn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.epfd < 0 {
		return errors.New("poller closed")
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollET}
	setEventID(&ev, c.id)
	var err error
	cerr := c.sock.raw.Control(func(fd uintptr) {
		err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if cerr != nil {
		err = cerr
	}
	if err == nil {
		p.conns[c.id] = c
	}
	return err
}

// remove stops watching c's socket; call it before the socket is closed.
func (p *poller) remove(c *Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.epfd >= 0 {
		_ = c.sock.raw.Control(func(fd uintptr) {
			_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
		})
	}
	delete(p.conns, c.id)
}

// run waits for events until wakeup is called.
func (p *poller) run() {
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			p.h.log.Error("epoll_wait failed; detached streams no longer see client closes", "err", err)
			return
		}
		for i := range events[:n] {
			ev := &events[i]
			id := eventID(ev)
			if id == wakeID {
				return
			}
			p.mu.Lock()
			c := p.conns[id]
			p.mu.Unlock()
			if c != nil {
				p.handle(c, ev.Events)
			}
		}
	}
}

// handle reacts to readiness of c's socket: a hang-up or error closes the stream, bytes the
// client sends are read and discarded, and end of file closes the stream.
func (p *poller) handle(c *Conn, events uint32) {
	if events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		c.close(ReasonClientClosed)
		return
	}
	if events&syscall.EPOLLIN == 0 {
		return
	}
	eof := false
	err := c.sock.raw.Read(func(fd uintptr) bool {
		for { // edge-triggered: read until the socket is empty
			n, err := syscall.Read(int(fd), p.buf)
			switch {
			case err == syscall.EINTR:
				continue
			case err != nil: // EAGAIN: drained; anything else: the close shows as RDHUP/ERR
				return true
			case n == 0:
				eof = true
				return true
			}
			c.sock.junk += int32(n)
			if c.sock.junk > maxJunk {
				return true
			}
		}
	})
	switch {
	case eof:
		c.close(ReasonClientClosed)
	case c.sock.junk > maxJunk:
		p.h.log.Warn("client sent data on an event stream; closing it", "bytes", c.sock.junk)
		c.close(ReasonError)
	case err != nil:
		c.close(ReasonClientClosed)
	}
}

// wakeup makes run return.
func (p *poller) wakeup() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.wakeW >= 0 {
		_, _ = syscall.Write(p.wakeW, []byte{1})
	}
}

// close releases the descriptors; call it once run has returned. The numbers are forgotten,
// so a late add or remove can never touch a descriptor the kernel has handed out again.
func (p *poller) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.epfd < 0 {
		return
	}
	syscall.Close(p.wakeR)
	syscall.Close(p.wakeW)
	syscall.Close(p.epfd)
	p.epfd, p.wakeR, p.wakeW = -1, -1, -1
}
