package h1conn

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/syncbuf"
)

// waitFor bounds every wait of these tests.
const waitFor = 5 * time.Second

// testLane is a lane Server on a loopback listener; connections it hands off arrive on
// handed.
type testLane struct {
	s      *Server
	addr   string
	handed chan net.Conn
}

func startLane(t *testing.T, cfg Config) *testLane {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &testLane{addr: ln.Addr().String(), handed: make(chan net.Conn, 8)}
	cfg.Path = testPath
	if cfg.Handoff == nil {
		cfg.Handoff = func(nc net.Conn) { l.handed <- nc }
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1024
	}
	l.s = NewServer(cfg)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			l.s.ServeConn(nc)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
		l.s.Close()
		for {
			select {
			case nc := <-l.handed:
				_ = nc.Close()
			default:
				return
			}
		}
	})
	return l
}

// dial opens a client connection to addr, closed at the end of the test.
func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(waitFor))
	return nc, bufio.NewReader(nc)
}

func send(t *testing.T, nc net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(nc, s); err != nil {
		t.Fatal(err)
	}
}

// publish is a request the lane serves, with body.
func publish(body string, extra ...string) string {
	return "POST /v1/publish HTTP/1.1\r\nHost: h\r\n" + strings.Join(extra, "") +
		fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
}

// readAnswer reads one answer: its head as sent (status line and header lines), and its
// body, de-chunked.
func readAnswer(t *testing.T, br *bufio.Reader) (head string, body string) {
	t.Helper()
	var sb strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read answer head: %v (so far %q)", err, sb.String())
		}
		sb.WriteString(line)
		if line == "\r\n" {
			break
		}
	}
	head = sb.String()
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(head)), &http.Request{Method: http.MethodPost})
	if err != nil {
		t.Fatalf("parse answer head %q: %v", head, err)
	}
	var r io.Reader
	switch {
	case resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified || resp.StatusCode < 200:
		return head, ""
	case len(resp.TransferEncoding) > 0:
		r = httputil.NewChunkedReader(br)
	case resp.ContentLength >= 0:
		r = io.LimitReader(br, resp.ContentLength)
	default:
		r = br
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read answer body: %v", err)
	}
	return head, string(b)
}

var dateLine = regexp.MustCompile(`(?m)^Date: [^\r]*\r$`)

// sameDate replaces the Date header's value, the one thing two answers may differ in.
func sameDate(head string) string { return dateLine.ReplaceAllString(head, "Date: D\r") }

// TestAnswersLikeNetHTTP serves the same handlers through the lane and through net/http
// and compares the answers byte for byte (but the date).
func TestAnswersLikeNetHTTP(t *testing.T) {
	big := strings.Repeat("x", 5000)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		extra   string // request header lines
		body    string // the request body, "abc" if empty
	}{
		{"json", func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h["Content-Type"] = []string{"application/json"}
			h["Cache-Control"] = []string{"no-store"}
			h["X-Content-Type-Options"] = []string{"nosniff"}
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, `{"id":"1-2","online":true}`+"\n")
		}, "", ""},
		{"sniffed", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "<html><body>hello</body></html>")
		}, "", ""},
		{"http.Error", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "bad things", http.StatusBadRequest)
		}, "", ""},
		{"no content", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "7")
			w.WriteHeader(http.StatusNoContent)
		}, "", ""},
		{"not modified", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Etag", `"x"`)
			w.WriteHeader(http.StatusNotModified)
		}, "", ""},
		{"declared length", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			_, _ = io.WriteString(w, "hello")
		}, "", ""},
		{"empty", func(w http.ResponseWriter, r *http.Request) {}, "", ""},
		{"second status ignored", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "made")
		}, "", ""},
		{"header changed after WriteHeader", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-A", "before")
			w.WriteHeader(http.StatusAccepted)
			w.Header().Set("X-A", "after")
			w.Header().Set("X-B", "after")
		}, "", ""},
		{"unknown status", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(599) }, "", ""},
		{"early hints", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</a>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			_, _ = io.WriteString(w, "then")
		}, "", ""},
		{"chunked", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, big)
		}, "", ""},
		{"flushed", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "part one;")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "part two")
		}, "", ""},
		{"handler says close", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, "bye")
		}, "", ""},
		{"handler says keep-alive, client says close", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "keep-alive")
			_, _ = io.WriteString(w, "bye")
		}, "Connection: close\r\n", ""},
		{"client says close", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "bye")
		}, "Connection: close\r\n", ""},
		{"echo request", func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s %s host=%s len=%d close=%v body=%q err=%v ua=%q q=%q remote=%v",
				r.Method, r.RequestURI, r.Proto, r.Host, r.ContentLength, r.Close, b, err,
				r.Header.Values("User-Agent"), r.URL.Query(), r.RemoteAddr != "")
		}, "User-Agent: a\r\nuser-agent:  b \r\n", ""},
		{"body left unread, small", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no", http.StatusUnauthorized)
		}, "", strings.Repeat("s", 100<<10)},
		{"body left unread, large", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "keep-alive")
			http.Error(w, "no", http.StatusUnauthorized)
		}, "", strings.Repeat("l", 300<<10)},
		{"body read in part", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.ReadFull(r.Body, make([]byte, 10))
			_, _ = io.WriteString(w, "read some")
		}, "", strings.Repeat("p", 1000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := startLane(t, Config{Handler: tt.handler, MaxBodyBytes: 1 << 20})
			std := httptest.NewUnstartedServer(tt.handler)
			std.Config.ErrorLog = log.New(io.Discard, "", 0)
			std.Start()
			t.Cleanup(std.Close)
			req := publish(cmp.Or(tt.body, "abc"), tt.extra)
			var heads, bodies [2]string
			for i, addr := range []string{l.addr, std.Listener.Addr().String()} {
				nc, br := dial(t, addr)
				// Sent while the answer is read: a server may answer before it read the body.
				go func() { _, _ = io.WriteString(nc, req) }()
				heads[i], bodies[i] = readAnswer(t, br)
				if strings.HasPrefix(heads[i], "HTTP/1.1 103 ") {
					var h2 string
					h2, bodies[i] = readAnswer(t, br)
					heads[i] += h2
				}
			}
			if sameDate(heads[0]) != sameDate(heads[1]) {
				t.Errorf("heads differ:\nlane:     %q\nnet/http: %q", heads[0], heads[1])
			}
			if bodies[0] != bodies[1] {
				t.Errorf("bodies differ:\nlane:     %q\nnet/http: %q", bodies[0], bodies[1])
			}
		})
	}
}

// echo answers with the request's body.
func echo(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_, _ = w.Write(b)
}

func TestKeepAliveAndPipelining(t *testing.T) {
	l := startLane(t, Config{Handler: http.HandlerFunc(echo)})
	nc, br := dial(t, l.addr)
	// Three requests in one write, then one more.
	send(t, nc, publish("one")+publish("two")+publish("three?")+"POST /v1/publish?x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nfo")
	send(t, nc, "ur")
	for _, want := range []string{"one", "two", "three?", "four"} {
		head, body := readAnswer(t, br)
		if !strings.HasPrefix(head, "HTTP/1.1 200 OK\r\n") || body != want {
			t.Fatalf("answer %q %q, want 200 %q", head, body, want)
		}
	}
	if n := l.s.Conns(); n != 1 {
		t.Errorf("Conns = %d, want 1", n)
	}
}

// TestUnreadBodyIsDropped: a handler that does not read the body leaves the connection
// ready for the next request.
func TestUnreadBodyIsDropped(t *testing.T) {
	l := startLane(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})})
	nc, br := dial(t, l.addr)
	send(t, nc, publish(strings.Repeat("b", 900))+publish("x"))
	for range 2 {
		if head, body := readAnswer(t, br); !strings.HasPrefix(head, "HTTP/1.1 200 ") || body != "ok" {
			t.Fatalf("answer %q %q", head, body)
		}
	}
}

// TestBodyFromSocket: a body that arrives after the handler started is read from the
// socket.
func TestBodyFromSocket(t *testing.T) {
	started := make(chan struct{}, 1)
	l := startLane(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		echo(w, r)
	})})
	nc, br := dial(t, l.addr)
	body := strings.Repeat("0123456789", 90)
	full := publish(body)
	split := len(full) - len(body) + 5
	send(t, nc, full[:split])
	<-started
	send(t, nc, full[split:]+publish("next"))
	for _, want := range []string{body, "next"} {
		if _, got := readAnswer(t, br); got != want {
			t.Fatalf("body %q, want %q", got, want)
		}
	}
}

// TestHandoff: a request the lane does not take goes to Handoff with every byte the lane
// read and did not serve, at the request boundary, also after requests it served.
func TestHandoff(t *testing.T) {
	tests := []struct{ name, req string }{
		{"GET", "GET /v1/events?topic=a HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"other path", "POST /v1/publishing HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx"},
		{"HTTP/1.0", "POST /v1/publish HTTP/1.0\r\nHost: h\r\nContent-Length: 1\r\n\r\nx"},
		{"chunked", "POST /v1/publish HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"},
		{"expect", "POST /v1/publish HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n"},
		{"upgrade", "POST /v1/publish HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: h2c\r\nContent-Length: 1\r\n\r\nx"},
		{"no length", "POST /v1/publish HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"over the body limit", "POST /v1/publish HTTP/1.1\r\nHost: h\r\nContent-Length: 1025\r\n\r\nxyz"},
		{"malformed header", "POST /v1/publish HTTP/1.1\r\nHost: h\r\nBad Header: x\r\nContent-Length: 1\r\n\r\nx"},
		{"bare LF", "POST /v1/publish HTTP/1.1\nHost: h\nContent-Length: 1\n\nx"},
		{"head over the limit", "POST /v1/publish HTTP/1.1\r\nHost: h\r\nX-Long: " + strings.Repeat("l", 5000) + "\r\nContent-Length: 1\r\n\r\nx"},
	}
	for _, tt := range tests {
		for _, after := range []int{0, 2} {
			t.Run(fmt.Sprintf("%s after %d", tt.name, after), func(t *testing.T) {
				l := startLane(t, Config{Handler: http.HandlerFunc(echo), MaxHeaderBytes: 4096})
				nc, br := dial(t, l.addr)
				for i := range after {
					send(t, nc, publish(fmt.Sprint(i)))
					if _, body := readAnswer(t, br); body != fmt.Sprint(i) {
						t.Fatalf("answer %d: %q", i, body)
					}
				}
				send(t, nc, tt.req)
				var hc net.Conn
				select {
				case hc = <-l.handed:
				case <-time.After(waitFor):
					t.Fatal("not handed off")
				}
				defer hc.Close()
				if _, ok := hc.(*ReplayConn); !ok {
					t.Fatalf("handed %T", hc)
				}
				_ = hc.SetReadDeadline(time.Now().Add(waitFor))
				got := make([]byte, len(tt.req))
				if _, err := io.ReadFull(hc, got); err != nil || string(got) != tt.req {
					t.Fatalf("replayed %q (%v), want %q", got, err, tt.req)
				}
				// The connection is the handed one's now: it reaches the client.
				if _, err := hc.Write([]byte("HTTP/1.1 204 No Content\r\n\r\n")); err != nil {
					t.Fatal(err)
				}
				if line, err := br.ReadString('\n'); err != nil || line != "HTTP/1.1 204 No Content\r\n" {
					t.Fatalf("client read %q %v", line, err)
				}
				if n := l.s.Conns(); n != 0 {
					t.Errorf("Conns = %d after the handoff", n)
				}
			})
		}
	}
}

// waitClosed waits for the server to close the client's connection (a reset counts: a
// connection closed with unread input).
func waitClosed(t *testing.T, br *bufio.Reader) {
	t.Helper()
	b, err := io.ReadAll(br)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("connection not closed: %v (read %q)", err, b)
	}
}

func TestTimeouts(t *testing.T) {
	t.Run("header", func(t *testing.T) {
		l := startLane(t, Config{Handler: http.HandlerFunc(echo), ReadHeaderTimeout: 50 * time.Millisecond})
		nc, br := dial(t, l.addr)
		send(t, nc, "POST /v1/publish HTTP/1.1\r\nHost: h\r\n")
		waitClosed(t, br)
	})
	t.Run("idle", func(t *testing.T) {
		l := startLane(t, Config{Handler: http.HandlerFunc(echo), IdleTimeout: 50 * time.Millisecond})
		nc, br := dial(t, l.addr)
		send(t, nc, publish("a"))
		if _, body := readAnswer(t, br); body != "a" {
			t.Fatalf("body %q", body)
		}
		waitClosed(t, br)
	})
	t.Run("body", func(t *testing.T) {
		l := startLane(t, Config{Handler: http.HandlerFunc(echo), BodyTimeout: 50 * time.Millisecond})
		nc, br := dial(t, l.addr)
		send(t, nc, "POST /v1/publish HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
		head, body := readAnswer(t, br)
		if !strings.HasPrefix(head, "HTTP/1.1 400 ") || !strings.Contains(body, "timeout") {
			t.Fatalf("answer %q %q, want a 400 for the timeout", head, body)
		}
		waitClosed(t, br)
	})
	t.Run("body deadline set by the handler", func(t *testing.T) {
		l := startLane(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			echo(w, r)
		}), BodyTimeout: time.Hour})
		nc, br := dial(t, l.addr)
		send(t, nc, "POST /v1/publish HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
		if head, _ := readAnswer(t, br); !strings.HasPrefix(head, "HTTP/1.1 400 ") {
			t.Fatalf("answer %q, want a 400 for the timeout", head)
		}
		waitClosed(t, br)
	})
}

// TestShortAnswerCloses: an answer shorter than its declared length closes the
// connection, or the client would wait for the rest.
func TestShortAnswerCloses(t *testing.T) {
	l := startLane(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		_, _ = io.WriteString(w, "short")
	})})
	nc, br := dial(t, l.addr)
	send(t, nc, publish("a"))
	b, _ := io.ReadAll(br)
	if !strings.HasSuffix(string(b), "\r\n\r\nshort") {
		t.Fatalf("read %q", b)
	}
}

func TestPanicClosesConnection(t *testing.T) {
	var logs syncbuf.Buffer
	l := startLane(t, Config{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.RawQuery == "abort" {
				panic(http.ErrAbortHandler)
			}
			panic("boom")
		}),
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	for _, q := range []string{"abort", "boom"} {
		nc, br := dial(t, l.addr)
		send(t, nc, fmt.Sprintf("POST /v1/publish?%s HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", q))
		if b, err := io.ReadAll(br); err != nil || len(b) > 0 {
			t.Fatalf("%s: read %q %v, want a close", q, b, err)
		}
	}
	got := logs.String()
	if strings.Count(got, "panic serving request") != 1 || !strings.Contains(got, "boom") {
		t.Errorf("logs: %s", got)
	}
}

func TestShutdown(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	l := startLane(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery == "wait" {
			entered <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, "done")
	})})
	idle, idleR := dial(t, l.addr)
	send(t, idle, publish(""))
	readAnswer(t, idleR)
	busy, busyR := dial(t, l.addr)
	send(t, busy, "POST /v1/publish?wait HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
	<-entered

	shut := make(chan error, 1)
	go func() { shut <- l.s.Shutdown(context.Background()) }()
	waitClosed(t, idleR) // at once, while the busy one is still being served
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a request was being served", err)
	default:
	}
	close(release)
	head, body := readAnswer(t, busyR)
	if !strings.Contains(head, "\r\nConnection: close\r\n") || body != "done" {
		t.Errorf("answer during shutdown: %q %q", head, body)
	}
	waitClosed(t, busyR)
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(waitFor):
		t.Fatal("Shutdown did not return")
	}
	// No new connection is served.
	nc, br := dial(t, l.addr)
	send(t, nc, publish("x"))
	waitClosed(t, br)
}

func TestShutdownTimesOutThenClose(t *testing.T) {
	entered := make(chan struct{}, 1)
	l := startLane(t, Config{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		_, err := io.ReadAll(r.Body) // the client never sends it: Close ends the read
		if err == nil {
			t.Error("body read succeeded")
		}
	}), BodyTimeout: time.Hour})
	nc, br := dial(t, l.addr)
	send(t, nc, "POST /v1/publish HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n")
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	l.s.Close()
	waitClosed(t, br)
	if n := l.s.Conns(); n != 0 {
		t.Errorf("Conns = %d after Close", n)
	}
}
