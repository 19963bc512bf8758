package server_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/hub"
	"github.com/heraldpush/herald/server"
	"github.com/heraldpush/herald/sse"
)

// rawStream is an SSE stream over a plain TCP connection, read by the test itself.
type rawStream struct {
	conn net.Conn
	resp *http.Response
	r    *sse.Reader
}

// dialStream opens path on g with a hand-written HTTP/1.1 request; setup, if not nil, runs on
// the socket before the request is sent.
func dialStream(t *testing.T, g *gateway, path string, setup func(*net.TCPConn), body func(io.Reader) io.Reader) *rawStream {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if setup != nil {
		setup(conn.(*net.TCPConn))
	}
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var b io.Reader = resp.Body
	if body != nil {
		b = body(b)
	}
	r := sse.NewReader(b)
	r.SetLimits(1<<20, 1<<20)
	return &rawStream{conn: conn, resp: resp, r: r}
}

// detached skips a test of the writer pool when it does not run here.
func detached(t *testing.T, g *gateway) {
	t.Helper()
	if g.srv.Config().NoHijack {
		t.Skip("this is the goroutine-mode run; the writer-pool tests run in the default one")
	}
	if !g.srv.Hub().CanDetach() {
		if runtime.GOOS == "linux" {
			t.Fatal("the writer pool did not start on Linux: streams would silently fall back to goroutines")
		}
		t.Skip("no writer pool on " + runtime.GOOS)
	}
}

// slowReader hands out at most n bytes per Read, pausing on the first reads, so the
// server's socket fills up and its writes come back partial.
type slowReader struct {
	r     io.Reader
	n     int
	reads int
}

func (s *slowReader) Read(p []byte) (int, error) {
	s.reads++
	if s.reads == 1 {
		time.Sleep(300 * time.Millisecond) // let the publisher fill every buffer on the way
	}
	return s.r.Read(p[:min(len(p), s.n)])
}

// smallSendBuffers gives accepted sockets a small send buffer, so that writes to a client
// that reads slowly come back partial.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		c.(*net.TCPConn).SetWriteBuffer(8 << 10)
	}
	return c, err
}

// TestPartialWritesKeepTheirTail sends many large events to a client with a tiny receive
// buffer that reads slowly: the pool's non-blocking writes come back partial and flushers
// take over, and the client must still get every byte of every event, in order, in valid
// chunked framing.
func TestPartialWritesKeepTheirTail(t *testing.T) {
	cfg := testConfig(server.Config{MaxQueueBytes: 64 << 20})
	eng := memory.New(memory.Options{})
	srv, err := server.New(cfg, eng, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Listener = smallSendBuffers{ts.Listener}
	ts.Start()
	t.Cleanup(func() { srv.Close(); ts.CloseClientConnections(); ts.Close(); eng.Close() })
	g := &gateway{srv: srv, ts: ts, url: ts.URL, eng: eng}
	detached(t, g)
	s := dialStream(t, g, "/v1/events?topic=big", func(c *net.TCPConn) { c.SetReadBuffer(16 << 10) },
		func(r io.Reader) io.Reader { return &slowReader{r: r, n: 1000} })
	waitUntil(t, func() bool { return g.srv.Hub().Conns() == 1 })
	const n = 300
	payload := func(i int) string {
		return fmt.Sprintf("%05d:", i) + strings.Repeat(string(rune('a'+i%26)), 32<<10)
	}
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := range n {
			g.publish(t, "big", "", payload(i), false)
		}
	}()
	defer func() { <-published }()
	for i := range n {
		ev, err := s.r.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if want := payload(i); string(ev.Data) != want {
			t.Fatalf("event %d: %d bytes starting %q, want %d bytes starting %q", i, len(ev.Data),
				ev.Data[:min(len(ev.Data), 16)], len(want), want[:16])
		}
	}
}

// TestClientCloseIsDetectedPromptly closes detached clients' sockets and expects their
// streams to leave the hub well within the heartbeat interval, and shows that idle detached
// streams hold no goroutine each.
func TestClientCloseIsDetectedPromptly(t *testing.T) {
	g := newGateway(t, server.Config{Heartbeat: time.Minute})
	detached(t, g)
	before := runtime.NumGoroutine()
	const n = 200
	streams := make([]*rawStream, n)
	for i := range streams {
		streams[i] = dialStream(t, g, fmt.Sprintf("/v1/events?topic=idle:%d", i%7), nil, nil)
	}
	waitUntil(t, func() bool { return g.srv.Hub().Conns() == n })
	if grew := runtime.NumGoroutine() - before; grew > n/4 {
		t.Fatalf("%d goroutines more for %d idle streams; want none per stream", grew, n)
	}
	start := time.Now()
	for _, s := range streams {
		s.conn.Close()
	}
	waitUntil(t, func() bool { return g.srv.Hub().Conns() == 0 && g.srv.Hub().Topics() == 0 })
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("closes took %s to notice", d)
	}
}

// TestNoFrameReachesAnotherClient opens and closes connections quickly, each on its own
// topic, while events flow to every topic: file descriptors are reused all the time, and
// no client may ever see another topic's event.
func TestNoFrameReachesAnotherClient(t *testing.T) {
	g := newGateway(t, server.Config{})
	const topics = 16
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := i % topics
			g.publish(t, fmt.Sprintf("fd:%d", k), "", fmt.Sprintf("%d-%d", k, i), false)
		}
	}()
	var opened, bad atomic.Int64
	const want = 200 // streams opened and closed in all; on a loaded machine this takes longer
	deadline := time.Now().Add(30 * time.Second)
	var clients sync.WaitGroup
	for k := range topics {
		clients.Add(1)
		go func() {
			defer clients.Done()
			for opened.Load() < want && time.Now().Before(deadline) {
				s := dialStream(t, g, fmt.Sprintf("/v1/events?topic=fd:%d", k), nil, nil)
				s.conn.SetReadDeadline(time.Now().Add(waitFor))
				ev, err := s.r.Next()
				if err != nil {
					s.conn.Close()
					t.Errorf("topic %d: %v", k, err)
					return
				}
				if !bytes.HasPrefix(ev.Data, fmt.Appendf(nil, "%d-", k)) {
					bad.Add(1)
					t.Errorf("client of fd:%d got %q", k, ev.Data)
				}
				opened.Add(1)
				s.conn.Close()
			}
		}()
	}
	clients.Wait()
	close(stop)
	wg.Wait()
	if opened.Load() < want {
		t.Fatalf("only %d streams opened in 30 s", opened.Load())
	}
	waitUntil(t, func() bool { return g.srv.Hub().Conns() == 0 })
	t.Logf("%d streams opened and closed, %d misdelivered", opened.Load(), bad.Load())
}

// TestDetachedStreamEndsCleanly checks the chunked terminator after a final event and after
// the stream's lifetime, so proxies and clients see a complete response.
func TestDetachedStreamEndsCleanly(t *testing.T) {
	g := newGateway(t, server.Config{MaxLifetime: 500 * time.Millisecond})
	detached(t, g)
	obs := g.srv.Hub()
	for _, final := range []bool{true, false} {
		s := dialStream(t, g, "/v1/events?topic=end:"+fmt.Sprint(final), nil, nil)
		if s.resp.TransferEncoding == nil || s.resp.TransferEncoding[0] != "chunked" {
			t.Fatalf("transfer encoding %v", s.resp.TransferEncoding)
		}
		waitUntil(t, func() bool { return obs.Conns() == 1 })
		g.publish(t, "end:"+fmt.Sprint(final), "", "x", final)
		s.conn.SetReadDeadline(time.Now().Add(waitFor))
		if _, err := io.Copy(io.Discard, s.resp.Body); err != nil {
			t.Fatalf("final=%v: body did not end cleanly: %v", final, err)
		}
		waitUntil(t, func() bool { return obs.Conns() == 0 })
	}
	_ = hub.ReasonFinal
}

// TestConcurrentInlineDeliveries publishes to two topics of one detached stream from two
// goroutines at once. Small fan-outs are written by the delivering goroutine itself (the hub
// claims the connection instead of waking a pool worker), so here two publishers race for
// the same connection: every event must arrive exactly once, each topic's in order, and a
// second stream sharing one topic must get that topic's events too.
func TestConcurrentInlineDeliveries(t *testing.T) {
	g := newGateway(t, server.Config{})
	detached(t, g)
	both := dialStream(t, g, "/v1/events?topic=in:a&topic=in:b", nil, nil)
	onlyA := dialStream(t, g, "/v1/events?topic=in:a", nil, nil)
	waitUntil(t, func() bool { return g.srv.Hub().Conns() == 2 })
	const n = 300
	var wg sync.WaitGroup
	for _, topic := range []string{"in:a", "in:b"} {
		wg.Go(func() {
			for i := range n {
				body := fmt.Sprintf(`{"topic":%q,"data":%d}`, topic, i)
				resp, err := http.Post(g.url+"/v1/publish", "application/json", strings.NewReader(body))
				if err != nil {
					t.Errorf("publish: %v", err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("publish %s: %s", body, resp.Status)
					return
				}
			}
		})
	}
	// Each topic's data must count up from 0; the two topics interleave freely.
	read := func(s *rawStream, total int, topics ...string) {
		t.Helper()
		next := map[string]int{}
		for _, tp := range topics {
			next[tp] = 0
		}
		for range total {
			ev, err := s.r.Next()
			if err != nil {
				t.Fatalf("after %v: %v", next, err)
			}
			tp := "in:a"
			if ev.Name != "" {
				t.Fatalf("unexpected event %q", ev.Name)
			}
			i, err := strconv.Atoi(string(ev.Data))
			if err != nil {
				t.Fatalf("data %q", ev.Data)
			}
			// The topic is the cursor's: one position per topic, in request order.
			if len(topics) == 2 {
				tp = topicOfCursor(t, ev.ID, next)
			}
			if i != next[tp] {
				t.Fatalf("%s: got %d, want %d (id %q)", tp, i, next[tp], ev.ID)
			}
			next[tp]++
		}
	}
	read(both, 2*n, "in:a", "in:b")
	read(onlyA, n, "in:a")
	wg.Wait()
}

// topicOfCursor says which of in:a and in:b moved in the cursor id, against the counts
// seen so far (the cursor holds the two topics' positions in request order; the memory
// engine numbers a topic's events from 1).
func topicOfCursor(t *testing.T, id string, seen map[string]int) string {
	t.Helper()
	c, err := herald.ParseCursor(id)
	if err != nil || len(c) != 2 {
		t.Fatalf("cursor %q: %v (%d positions)", id, err, len(c))
	}
	switch {
	case int(c[0].Seq) == seen["in:a"]+1 && int(c[1].Seq) == seen["in:b"]:
		return "in:a"
	case int(c[1].Seq) == seen["in:b"]+1 && int(c[0].Seq) == seen["in:a"]:
		return "in:b"
	default:
		t.Fatalf("cursor %q is not one step past %v", id, seen)
		return ""
	}
}
