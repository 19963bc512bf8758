package server_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/hub"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/server"
)

// reasons records how streams ended.
type reasons struct {
	hub.NopObserver
	mu sync.Mutex
	n  map[hub.Reason]int
}

func (r *reasons) ConnClosed(info hub.ConnInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[hub.Reason]int{}
	}
	r.n[info.Reason]++
}

func (r *reasons) count(reason hub.Reason) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[reason]
}

func TestSlowConsumerIsCutOffWithBoundedMemory(t *testing.T) {
	obs := &reasons{}
	cfg := testConfig(server.Config{MaxQueueBytes: 256 << 10, HistorySize: 10})
	eng := memory.New(memory.Options{Retention: cfg.Retention})
	srv, err := server.New(cfg, eng, server.Options{Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler()}
	ln = &closeWatchListener{Listener: ln, closed: make(chan string, 16)}
	go hs.Serve(ln)
	t.Cleanup(func() { srv.Close(); hs.Close(); eng.Close() })
	g := &gateway{srv: srv, url: "http://" + ln.Addr().String(), eng: eng}

	// A client that sends its request and never reads, with a tiny receive buffer.
	d := net.Dialer{Control: nil}
	raw, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(raw, "GET /v1/events?topic=firehose HTTP/1.1\r\nHost: x\r\n\r\n")

	// A healthy client on the same topic keeps receiving throughout.
	healthy := g.open(t, "/v1/events?topic=firehose", nil)
	waitUntil(t, func() bool { return srv.Hub().Conns() == 2 })

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	payload := strings.Repeat("x", 16<<10)
	const n = 1000 // 16 MiB in all, far over the socket buffers and the queue bound
	go func() {
		for i := 0; i < n; i++ {
			g.publish(t, "firehose", "", payload, false)
		}
	}()
	for i := 0; i < n; i++ {
		ev := healthy.Next(t)
		if len(ev.Data) != len(payload) {
			t.Fatalf("healthy client got %d bytes", len(ev.Data))
		}
	}
	waitUntil(t, func() bool { return obs.count(hub.ReasonSlowConsumer) == 1 })
	if srv.Hub().Conns() != 1 {
		t.Fatalf("conns = %d after the cut-off, want 1", srv.Hub().Conns())
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 8<<20 {
		t.Fatalf("heap grew by %d bytes: the slow consumer's frames were not bounded", grew)
	}
	// The server closed the cut-off client's TCP connection (not parked it in keep-alive).
	deadline := time.After(waitFor)
	for {
		select {
		case addr := <-ln.(*closeWatchListener).closed:
			if addr == raw.LocalAddr().String() {
				return
			}
		case <-deadline:
			t.Fatalf("the slow consumer's connection was not closed by the server")
		}
	}
}

// closeWatchListener reports the remote address of every accepted connection the server
// closes, whether net/http or the hub's writer pool (after a hijack) closes it.
type closeWatchListener struct {
	net.Listener
	closed chan string
}

func (l *closeWatchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &closeWatchConn{TCPConn: c.(*net.TCPConn), closed: l.closed}, nil
}

// closeWatchConn keeps *net.TCPConn's methods (SyscallConn included, which the writer pool
// needs) and reports its first Close.
type closeWatchConn struct {
	*net.TCPConn
	closed chan string
	once   sync.Once
}

func (c *closeWatchConn) Close() error {
	c.once.Do(func() {
		select {
		case c.closed <- c.RemoteAddr().String():
		default:
		}
	})
	return c.TCPConn.Close()
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", waitFor)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDrainSpreadsStreamEnds(t *testing.T) {
	obs := &reasons{}
	cfg := testConfig(server.Config{Drain: time.Second})
	eng := memory.New(memory.Options{})
	defer eng.Close()
	srv, err := server.New(cfg, eng, server.Options{Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln, nil) }()
	url := "http://" + ln.Addr().String()
	const n = 20
	streams := make([]*stream, n)
	for i := range streams {
		streams[i] = openWith(t, http.DefaultClient, url+"/v1/events?topic=d", nil)
	}
	waitUntil(t, func() bool { return srv.Hub().Conns() == n })

	start := time.Now()
	stop()
	var mu sync.Mutex
	var ends []time.Duration
	var wg sync.WaitGroup
	for _, s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.ExpectEnd(t)
			mu.Lock()
			ends = append(ends, time.Since(start))
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	var first, last time.Duration = time.Hour, 0
	for _, e := range ends {
		first, last = min(first, e), max(last, e)
	}
	if last > 3*time.Second || last-first < 200*time.Millisecond {
		t.Fatalf("streams ended between %s and %s; want them spread over the 1s window", first, last)
	}
	if got := obs.count(hub.ReasonShutdown); got != n {
		t.Fatalf("%d streams ended with reason shutdown, want %d", got, n)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatalf("the listener still accepts after shutdown")
	}
}

func TestHTTP2ManyStreamsOneConnection(t *testing.T) {
	cert, key, _ := testserver.SelfSignedCert(t)
	for _, tc := range []struct {
		name string
		cfg  server.Config
	}{
		{"h2c", server.Config{}},
		{"tls-h2", server.Config{TLSCert: cert, TLSKey: key}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng := memory.New(memory.Options{})
			defer eng.Close()
			srv, err := server.New(tc.cfg, eng, server.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, stop := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ctx, ln, nil) }()
			defer func() { stop(); <-done }()

			// Count the client's own dials, not the listener's accepts: a stray client of an
			// earlier test may still be redialling a port the kernel has handed to this one.
			var dials atomic.Int32
			var dialer net.Dialer
			var protocols http.Protocols
			tr := &http.Transport{Protocols: &protocols,
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					dials.Add(1)
					return dialer.DialContext(ctx, network, addr)
				}}
			scheme := "http"
			if tc.cfg.TLSCert != "" {
				scheme = "https"
				protocols.SetHTTP2(true)
				tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
			} else {
				protocols.SetUnencryptedHTTP2(true)
			}
			client := &http.Client{Transport: tr}
			defer tr.CloseIdleConnections()
			base := scheme + "://" + ln.Addr().String()
			const n = 12 // over the browser's six-per-origin limit of HTTP/1.1
			streams := make([]*stream, n)
			for i := range streams {
				streams[i] = openWith(t, client, fmt.Sprintf("%s/v1/events?topic=h2:%d", base, i), nil)
				if streams[i].Resp.ProtoMajor != 2 {
					t.Fatalf("stream %d: protocol %s", i, streams[i].Resp.Proto)
				}
			}
			pub := &http.Client{Transport: tr}
			for i := range streams {
				body := fmt.Sprintf(`{"topic":"h2:%d","data":"hello %d"}`, i, i)
				resp, err := pub.Post(base+"/v1/publish", "application/json", strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			for i, s := range streams {
				s.Expect(t, fmt.Sprintf("hello %d", i))
			}
			if got := dials.Load(); got != 1 {
				t.Fatalf("%d TCP connections for %d streams, want 1", got, n)
			}
		})
	}
}
