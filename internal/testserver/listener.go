package testserver

import (
	"net"
	"sync"
)

// TrackingListener remembers the connections it accepted, so that a test can cut them all
// at once, as a proxy restart or a network drop would.
type TrackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// Track wraps ln.
func Track(ln net.Listener) *TrackingListener {
	return &TrackingListener{Listener: ln, conns: make(map[net.Conn]struct{})}
}

// Accept accepts and remembers a connection.
func (l *TrackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns[c] = struct{}{}
		l.mu.Unlock()
	}
	return c, err
}

// CloseAll closes every connection accepted so far.
func (l *TrackingListener) CloseAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		c.Close()
	}
	clear(l.conns)
}
