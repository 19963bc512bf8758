package server

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/internal/h1conn"
)

// TestLaneServesPublishConnections checks which server takes a connection: the lane one
// whose first request is POST /v1/publish (and keeps it while it publishes), net/http one
// that starts otherwise, or that the lane hands over.
func TestLaneServesPublishConnections(t *testing.T) {
	s, addr := serveLane(t, Config{})
	const body = `{"topic":"lane:1","data":1}`
	const publish = "POST /v1/publish HTTP/1.1\r\nHost: h\r\nContent-Length: 27\r\n\r\n" + body
	const health = "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n"
	dial := func() (net.Conn, *bufio.Reader) {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
		return nc, bufio.NewReader(nc)
	}
	roundTrip := func(nc net.Conn, br *bufio.Reader, req string) {
		t.Helper()
		if _, err := io.WriteString(nc, req); err != nil {
			t.Fatal(err)
		}
		resp, err := readResponse(br)
		if err != nil || !strings.HasPrefix(resp, "HTTP/1.1 200 ") {
			t.Fatalf("answer %q %v", resp, err)
		}
	}
	pub, pubR := dial()
	defer pub.Close()
	for range 3 {
		roundTrip(pub, pubR, publish)
	}
	if n := s.laneConns(); n != 1 {
		t.Fatalf("lane connections = %d after publishes, want 1", n)
	}
	std, stdR := dial()
	defer std.Close()
	roundTrip(std, stdR, health)
	roundTrip(std, stdR, publish)
	if n := s.laneConns(); n != 1 {
		t.Fatalf("lane connections = %d with a net/http one, want 1", n)
	}
	roundTrip(pub, pubR, health) // handed over
	roundTrip(pub, pubR, publish)
	if n := s.laneConns(); n != 0 {
		t.Fatalf("lane connections = %d after the handoff, want 0", n)
	}
}

// serveLane serves a server for cfg on a loopback listener until the test ends; it skips
// where the sorter (and so the lane) does not run.
func serveLane(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	eng := memory.New(memory.Options{})
	t.Cleanup(func() { eng.Close() })
	s, err := New(cfg, eng, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.HTTP2Streams() != HTTP2Detached {
		if runtime.GOOS == "linux" {
			t.Fatal("no writer pool on Linux: the sorter and the lane do not run")
		}
		t.Skip("the sorter (and so the lane) runs where the writer pool does: Linux")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

// TestNoPublishLane: with Config.NoPublishLane, publish connections stay with net/http.
func TestNoPublishLane(t *testing.T) {
	s, addr := serveLane(t, Config{NoPublishLane: true})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	const body = `{"topic":"lane:1","data":1}`
	for range 2 {
		if _, err := io.WriteString(nc, "POST /v1/publish HTTP/1.1\r\nHost: h\r\nContent-Length: 27\r\n\r\n"+body); err != nil {
			t.Fatal(err)
		}
		if resp, err := readResponse(br); err != nil || !strings.HasPrefix(resp, "HTTP/1.1 200 ") {
			t.Fatalf("answer %q %v", resp, err)
		}
	}
	if n := s.laneConns(); n != 0 {
		t.Fatalf("lane connections = %d with NoPublishLane, want 0", n)
	}
}

// readResponse reads one answer with a Content-Length, as sent.
func readResponse(br *bufio.Reader) (string, error) {
	var sb strings.Builder
	n := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return sb.String(), err
		}
		sb.WriteString(line)
		if line == "\r\n" {
			break
		}
		if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
			if n, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
				return sb.String(), err
			}
		}
	}
	b := make([]byte, n)
	_, err := io.ReadFull(br, b)
	sb.Write(b)
	return sb.String(), err
}

// TestTCPConnThroughReplayConn: socket options (the send buffer, the slow consumer's
// reset) reach the TCP connection of a connection the lane handed to net/http.
func TestTCPConnThroughReplayConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, c := range []net.Conn{nc, &h1conn.ReplayConn{Conn: nc}} {
		r := httptest.NewRequest(http.MethodGet, "/v1/events", nil)
		r = r.WithContext(withConn(r.Context(), c))
		if got := tcpConn(r); got != nc {
			t.Errorf("tcpConn through %T = %v, want the TCP connection", c, got)
		}
	}
}
