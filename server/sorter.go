package server

// Sorting accepted connections between Herald's HTTP/2 engine (internal/h2conn), its
// HTTP/1.1 publish lane (internal/h1conn) and the standard http.Server. Cleartext: the first
// bytes are peeked (not read: on Linux with MSG_PEEK, so the server chosen reads them
// itself) — the h2c prior-knowledge preface goes to the engine, a first request line
// "POST /v1/publish " (or "?") to the lane, anything else to the standard server
// (conn_kind.go); the lane hands back, through handoff, a connection whose later request it
// does not take. TLS: the handshake is done here, and NegotiatedProtocol "h2" goes to the
// engine, anything else (HTTP/1.1) to the standard server as a finished *tls.Conn, which it
// serves as TLS without a second handshake. Each connection is sorted in a goroutine of its
// own under a deadline, so a slow client never holds up accepting.

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/heraldpush/herald/internal/h1conn"
	"github.com/heraldpush/herald/internal/h2conn"
)

// sorter accepts from ln and hands every connection to h2 or to std.
type sorter struct {
	ln      net.Listener
	std     *chanListener
	h2      *h2conn.Server
	lane    *h1conn.Server // nil: no lane
	tlsCfg  *tls.Config
	timeout time.Duration
	log     *slog.Logger
	wg      sync.WaitGroup

	mu       sync.Mutex
	stopped  bool
	inFlight map[net.Conn]struct{} // being sorted: interrupted by stop
}

func newSorter(ln net.Listener, tlsCfg *tls.Config, h2 *h2conn.Server, timeout time.Duration, log *slog.Logger) *sorter {
	return &sorter{ln: ln, std: newChanListener(ln), h2: h2, tlsCfg: tlsCfg, timeout: timeout, log: log,
		inFlight: make(map[net.Conn]struct{})}
}

// handoff gives net/http a connection the lane gave up on (at a request boundary).
func (s *sorter) handoff(nc net.Conn) { s.std.push(nc) }

// stop stops accepting, interrupts the connections being sorted (a handshake or a peek
// waiting for a silent client) and waits for the sorting goroutines.
func (s *sorter) stop() {
	_ = s.std.Close()
	s.mu.Lock()
	s.stopped = true
	for nc := range s.inFlight {
		_ = nc.SetDeadline(aLongTimeAgo)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

var aLongTimeAgo = time.Unix(1, 0)

// run accepts until the listener is closed; then it waits for the sorting goroutines.
func (s *sorter) run() {
	defer s.wg.Wait()
	var delay time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.std.done:
				return // stopped
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscallEMFILE) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(delay):
					continue
				case <-s.std.done:
					return
				}
			}
			s.std.fail(err)
			return
		}
		delay = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.sort(nc)
		}()
	}
}

func (s *sorter) sort(nc net.Conn) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	s.inFlight[nc] = struct{}{}
	s.mu.Unlock()
	defer s.sorted(nc) // on the paths that close nc
	deadline := time.Now().Add(s.timeout)
	if s.tlsCfg != nil {
		tc := tls.Server(nc, s.tlsCfg)
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			s.log.Debug("TLS handshake failed", "remote", nc.RemoteAddr().String(), "err", err)
			_ = tc.Close()
			return
		}
		_ = nc.SetDeadline(time.Time{})
		if !s.sorted(nc) {
			_ = tc.Close()
			return
		}
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			s.h2.ServeConn(tc)
			return
		}
		s.std.push(tc)
		return
	}
	kind, err := peekKind(nc, deadline)
	if errors.Is(err, errBadPreface) {
		s.log.Debug("invalid HTTP/2 client preface", "remote", nc.RemoteAddr().String())
		closeLingering(nc, deadline)
		return
	}
	if err != nil || !s.sorted(nc) {
		_ = nc.Close()
		return
	}
	switch {
	case kind == kindH2:
		s.h2.ServeConn(nc)
	case kind == kindPublish && s.lane != nil:
		s.lane.ServeConn(nc)
	default:
		s.std.push(nc)
	}
}

// sorted takes nc out of the connections being sorted, before it is handed to a server:
// from then on stop leaves it alone (its interrupt, a deadline in the past, would otherwise
// reach a connection the HTTP/2 engine or a server already serves, and cut it without its
// GOAWAY). It reports false when the sorter was stopped meanwhile (nc may carry that
// deadline): the caller closes nc instead.
func (s *sorter) sorted(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inFlight, nc)
	return !s.stopped
}

// errBadPreface reports a connection that starts like the HTTP/2 client preface ("PRI ",
// a method no HTTP/1.1 client sends) but is not the preface: it is closed (RFC 9113 §3.4).
var errBadPreface = errors.New("server: invalid HTTP/2 client preface")

// closeLingering closes a connection the client is still writing to: the write side
// first, then what the client sent is read and dropped until it closes too (or deadline,
// or 64 KiB), so that the client sees a clean close rather than a reset caused by unread
// input.
func closeLingering(nc net.Conn, deadline time.Time) {
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = nc.SetReadDeadline(deadline)
	_, _ = io.CopyN(io.Discard, nc, 64<<10)
	_ = nc.Close()
}

// chanListener is the standard server's listener: the connections the sorter hands it.
type chanListener struct {
	ln   net.Listener
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	mu   sync.Mutex
	err  error
}

func newChanListener(ln net.Listener) *chanListener {
	return &chanListener{ln: ln, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.err != nil {
			return nil, l.err
		}
		return nil, net.ErrClosed
	}
}

func (l *chanListener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		_ = c.Close()
	}
}

// fail ends Accept with err (the real listener failed).
func (l *chanListener) fail(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.mu.Unlock()
	_ = l.Close()
}

// Close closes the real listener too: the sorter stops accepting.
func (l *chanListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.ln.Close()
	})
	return err
}

func (l *chanListener) Addr() net.Addr { return l.ln.Addr() }
