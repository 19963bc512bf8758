package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// HTTP/2 subscribers (Config.HTTP2). Streams are requests multiplexed over a few TCP
// connections, as a browser's are, so they go through net/http's client: one
// http.Transport per connection wanted (a Transport keeps one HTTP/2 connection per server
// while the server's stream limit allows), subscriber k of a process on transport k modulo
// H2Conns. Each stream is read by its subscriber's goroutine from the response body, which
// the transport has already taken out of HTTP/2 DATA frames: the SSE parser starts past the
// head, with no chunked framing. The client side costs more CPU than the raw HTTP/1.1 path
// (the transport's read loop hands each frame to the stream's goroutine); the server side,
// which is what the bench measures, sees what a browser's streams cost it.

// h2ReadBuf is the per-stream read buffer: events are small and the transport buffers
// what arrives until the stream's goroutine reads it.
const h2ReadBuf = 4 << 10

// h2Pool holds a process's HTTP/2 transports.
type h2Pool struct {
	transports []*http.Transport
	warm       []h2Warm
	// dials counts the TCP connections opened: more than H2Conns means the server's limit
	// of concurrent streams per connection made the transports open extra ones.
	dials atomic.Uint64
}

// newH2Pool prepares n transports speaking variant (HTTP2H2C or HTTP2TLS) to targets; the
// sockets come from dialers in turn.
func newH2Pool(variant string, n int, targets []target, dialers []*net.Dialer) *h2Pool {
	p := &h2Pool{transports: make([]*http.Transport, n), warm: make([]h2Warm, n)}
	var protocols http.Protocols
	if variant == HTTP2TLS {
		protocols.SetHTTP2(true)
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	for i := range p.transports {
		d := dialers[i%len(dialers)]
		tr := &http.Transport{
			Protocols: &protocols,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				p.dials.Add(1)
				return d.DialContext(ctx, network, addr)
			},
			// One TLS configuration serves every https:// target of the run (--insecure is
			// run-wide); the transport fills in each server's name.
			TLSClientConfig:     tlsOf(targets),
			TLSHandshakeTimeout: 10 * time.Second,
			DisableCompression:  true,
		}
		if tr.TLSClientConfig != nil {
			tr.TLSClientConfig.ServerName = ""
		}
		p.transports[i] = tr
	}
	return p
}

// tlsOf returns a copy of the first https:// target's TLS configuration, or nil.
func tlsOf(targets []target) *tls.Config {
	for i := range targets {
		if targets[i].tls != nil {
			return targets[i].tls.Clone()
		}
	}
	return nil
}

// h2Warm lets the first stream of a transport open alone: until a response has come (and
// with it the server's SETTINGS, its limit of concurrent streams), concurrent requests on
// a transport with no connection would each dial one.
type h2Warm struct {
	mu sync.Mutex
	ok atomic.Bool
}

// roundTrip sends req on transport i.
func (p *h2Pool) roundTrip(i int, req *http.Request) (*http.Response, error) {
	tr, w := p.transports[i], &p.warm[i]
	if !w.ok.Load() {
		w.mu.Lock()
		if !w.ok.Load() {
			defer w.mu.Unlock()
			resp, err := tr.RoundTrip(req)
			if err == nil {
				w.ok.Store(true)
			}
			return resp, err
		}
		w.mu.Unlock()
	}
	return tr.RoundTrip(req)
}

// close closes the transports' idle connections (every stream has ended).
func (p *h2Pool) close() {
	for _, tr := range p.transports {
		tr.CloseIdleConnections()
	}
}

// sessionH2 opens one stream over HTTP/2 and reads it until it ends or breaks; in
// reconnect mode, while the run is active, it drops the stream after an exponentially
// distributed time by cancelling the request (an RST_STREAM: the connection stays).
func (s *sub) sessionH2(ctx context.Context) error {
	g := s.g
	release, err := g.dialSlot(ctx)
	if err != nil {
		return err
	}
	defer release()
	ti := s.nextTarget()
	t := &g.targets[ti]
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	s.cancelH2 = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.cancelH2 = nil
		s.mu.Unlock()
	}()
	if g.stopping.Load() {
		return errEnded
	}
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, t.base+"/v1/events?topic="+url.QueryEscape(s.topic), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("User-Agent", "herald-bench")
	if g.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+g.cfg.Token)
	}
	if len(s.st.lastID) > 0 {
		req.Header.Set("Last-Event-ID", string(s.st.lastID))
	}
	// The response head must come within 15 s, as on the HTTP/1.1 path.
	headTimer := time.AfterFunc(15*time.Second, cancel)
	resp, err := g.h2.roundTrip(s.local%len(g.h2.transports), req)
	headTimer.Stop()
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.ProtoMajor != 2:
		return fmt.Errorf("%w: %s, not HTTP/2", errProtocol, resp.Proto)
	case resp.StatusCode == http.StatusNoContent:
		return errEnded
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%w: %s", errStatus, resp.Status)
	}
	s.st.begin()
	s.st.headDone = true // the body is the SSE stream itself: no head, no chunks
	release()
	s.opened(ti)
	defer g.connected.Add(-1)

	var dropped atomic.Bool
	var dropTimer *time.Timer
	defer func() {
		if dropTimer != nil {
			dropTimer.Stop()
		}
	}()
	buf := make([]byte, h2ReadBuf)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if ferr := s.feed(buf[:n]); ferr != nil {
				return ferr
			}
		}
		if err != nil {
			switch {
			case dropped.Load():
				return errDrop
			case errors.Is(err, io.EOF):
				return errEnded
			}
			return err
		}
		if dropTimer == nil && g.cfg.Mode == ModeReconnect && g.active.Load() && len(s.st.lastID) > 0 {
			wait := time.Duration(rand.ExpFloat64() * float64(g.cfg.Churn))
			dropTimer = time.AfterFunc(wait, func() {
				dropped.Store(true)
				cancel()
			})
		}
	}
}
