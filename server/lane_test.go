package server_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/server"
)

// The HTTP/1.1 publish lane (internal/h1conn): a connection whose first request is
// POST /v1/publish is served by the lane; one whose first request is anything else by
// net/http. Both must answer alike.

// rawConn is a raw client connection with a deadline.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialRawHTTP(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(waitFor))
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatal(err)
	}
}

// answer reads one answer with a Content-Length (or none: to the close), as sent.
func (c *rawConn) answer() (head, body string) {
	c.t.Helper()
	var sb strings.Builder
	n := -1
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read answer: %v (so far %q)", err, sb.String())
		}
		sb.WriteString(line)
		if line == "\r\n" {
			break
		}
		if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	var b []byte
	var err error
	if n >= 0 {
		b = make([]byte, n)
		_, err = io.ReadFull(c.br, b)
	} else {
		b, err = io.ReadAll(c.br)
	}
	if err != nil {
		c.t.Fatalf("read answer body: %v", err)
	}
	return sb.String(), string(b)
}

// closed waits for the server to close the connection.
func (c *rawConn) closed() {
	c.t.Helper()
	if b, err := io.ReadAll(c.br); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		c.t.Fatalf("connection not closed: %v (read %q)", err, b)
	}
}

func publishRequest(body string, extra ...string) string {
	return "POST /v1/publish HTTP/1.1\r\nHost: herald\r\nContent-Type: application/json\r\n" +
		strings.Join(extra, "") + fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
}

var (
	dateHeader = regexp.MustCompile(`(?m)^Date: [^\r]*\r$`)
	eventID    = regexp.MustCompile(`"[0-9a-z]+-[0-9]+"`)
)

// TestLaneAnswersLikeNetHTTP sends the same publishes on a lane connection and on a
// net/http one (its first request a GET) and compares the answers byte for byte, but the
// date and the event id.
func TestLaneAnswersLikeNetHTTP(t *testing.T) {
	const event = `{"topic":"lane:1","event":"tick","data":{"n":1}}`
	tests := []struct {
		name   string
		cfg    server.Config
		before string // sent and answered first on a connection of its own
		req    string
		status int
	}{
		{name: "published", req: publishRequest(event), status: 200},
		{name: "published with sent time", req: publishRequest(event, "X-Herald-Sent-Time: 1700000000000\r\n"), status: 200},
		{name: "malformed JSON", req: publishRequest(`{"topic":"lane:1",`), status: 400},
		{name: "empty body", req: publishRequest(""), status: 400},
		{name: "bad topic", req: publishRequest(`{"topic":"no spaces allowed","data":1}`), status: 400},
		{name: "batch", req: publishRequest(`{"events":[{"topic":"lane:1","data":1},{"topic":"lane:2","data":2}]}`), status: 200},
		{name: "data too large", cfg: server.Config{MaxMessageBytes: 4}, req: publishRequest(event), status: 413},
		{name: "body over the limit", cfg: server.Config{MaxBodyBytes: 16}, req: publishRequest(event), status: 413},
		{name: "reserved topic", req: publishRequest(`{"topic":"herald:stats","data":1}`), status: 403},
		{name: "no token", cfg: server.Config{Auth: server.AuthConfig{APIKeys: []string{"k1"}}},
			req: publishRequest(event), status: 401},
		{name: "bad token", cfg: server.Config{Auth: server.AuthConfig{APIKeys: []string{"k1"}}},
			req: publishRequest(event, "Authorization: Bearer k2\r\n"), status: 401},
		{name: "rate limited", cfg: server.Config{Auth: server.AuthConfig{APIKeys: []string{"k1"}},
			Limits: server.Limits{PublishRate: 0.001, PublishBurst: 1}},
			before: publishRequest(event, "Authorization: Bearer k1\r\n"),
			req:    publishRequest(event, "Authorization: Bearer k1\r\n"), status: 429},
		{name: "client closes", req: publishRequest(event, "Connection: close\r\n"), status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := serveH2(t, tt.cfg)
			if tt.before != "" {
				c := dialRawHTTP(t, n.addr)
				c.send(tt.before)
				c.answer()
			}
			lane := dialRawHTTP(t, n.addr)
			lane.send(tt.req)
			laneHead, laneBody := lane.answer()

			std := dialRawHTTP(t, n.addr)
			std.send("GET /healthz HTTP/1.1\r\nHost: herald\r\n\r\n")
			if head, _ := std.answer(); !strings.HasPrefix(head, "HTTP/1.1 200 ") {
				t.Fatalf("healthz: %q", head)
			}
			std.send(tt.req)
			stdHead, stdBody := std.answer()

			if want := fmt.Sprintf("HTTP/1.1 %d ", tt.status); !strings.HasPrefix(laneHead, want) {
				t.Errorf("lane answered %q, want %d", laneHead, tt.status)
			}
			laneHead, stdHead = dateHeader.ReplaceAllString(laneHead, "Date: D\r"), dateHeader.ReplaceAllString(stdHead, "Date: D\r")
			laneBody, stdBody = eventID.ReplaceAllString(laneBody, `"I"`), eventID.ReplaceAllString(stdBody, `"I"`)
			if laneHead != stdHead {
				t.Errorf("heads differ:\nlane:     %q\nnet/http: %q", laneHead, stdHead)
			}
			if laneBody != stdBody {
				t.Errorf("bodies differ:\nlane:     %q\nnet/http: %q", laneBody, stdBody)
			}
		})
	}
}

// TestLaneHandsOff: a request the lane does not take, after one it served, is answered
// by net/http on the same connection.
func TestLaneHandsOff(t *testing.T) {
	const event = `{"topic":"lane:1","data":1}`
	chunked := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(event), event)
	tests := []struct {
		name  string
		req   string
		want  []string // status lines, in order
		close bool     // net/http closes the connection after
	}{
		{"healthz", "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", []string{"HTTP/1.1 200 OK"}, false},
		{"chunked publish", "POST /v1/publish HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked,
			[]string{"HTTP/1.1 200 OK"}, false},
		{"expect 100-continue", publishRequest(event, "Expect: 100-continue\r\n"),
			[]string{"HTTP/1.1 100 Continue", "HTTP/1.1 200 OK"}, false},
		{"HTTP/1.0", strings.Replace(publishRequest(event), "HTTP/1.1", "HTTP/1.0", 1), []string{"HTTP/1.0 200 OK"}, true},
		{"malformed header", publishRequest(event, "Bad Header: x\r\n"), []string{"HTTP/1.1 400 Bad Request"}, true},
		{"no host", "POST /v1/publish HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", []string{"HTTP/1.1 400 Bad Request"}, true},
		{"method not allowed", "PUT /v1/publish HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
			[]string{"HTTP/1.1 405 Method Not Allowed"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := serveH2(t, server.Config{})
			c := dialRawHTTP(t, n.addr)
			c.send(publishRequest(event))
			if head, _ := c.answer(); !strings.HasPrefix(head, "HTTP/1.1 200 ") {
				t.Fatalf("lane publish: %q", head)
			}
			c.send(tt.req)
			for _, want := range tt.want {
				if strings.HasPrefix(want, "HTTP/1.1 100 ") {
					line, err := c.br.ReadString('\n')
					if err != nil || line != want+"\r\n" {
						t.Fatalf("read %q %v, want %q", line, err, want)
					}
					if line, _ = c.br.ReadString('\n'); line != "\r\n" {
						t.Fatalf("after 100 Continue: %q", line)
					}
					continue
				}
				if head, _ := c.answer(); !strings.HasPrefix(head, want) {
					t.Fatalf("answer %q, want %q", head, want)
				}
			}
			if tt.close {
				c.closed()
				return
			}
			// net/http serves the connection from now on: a publish too.
			c.send(publishRequest(event))
			if head, _ := c.answer(); !strings.HasPrefix(head, "HTTP/1.1 200 ") {
				t.Fatalf("publish after the handoff: %q", head)
			}
		})
	}
}

// TestLaneHandoffStream: a stream requested on a lane connection is served by net/http
// through the handed-off connection (which the hub writes from the handler goroutine).
func TestLaneHandoffStream(t *testing.T) {
	// A heartbeat longer than the test: the stream must learn that its client left from the
	// socket (the writer pool's poller, or net/http's read in goroutine mode), not from a
	// failed heartbeat write.
	n := serveH2(t, server.Config{Heartbeat: time.Hour})
	c := dialRawHTTP(t, n.addr)
	c.send(publishRequest(`{"topic":"lane:s","data":0}`))
	if head, _ := c.answer(); !strings.HasPrefix(head, "HTTP/1.1 200 ") {
		t.Fatalf("lane publish: %q", head)
	}
	c.send("GET /v1/events?topic=lane:s HTTP/1.1\r\nHost: h\r\nAccept: text/event-stream\r\n\r\n")
	if line, err := c.br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 200 ") {
		t.Fatalf("stream: %q %v", line, err)
	}
	pub := dialRawHTTP(t, n.addr)
	deadline := time.Now().Add(waitFor)
	for i := 0; ; i++ {
		// The stream registers after its head: publish until it is online.
		pub.send(publishRequest(fmt.Sprintf(`{"topic":"lane:s","event":"hello","data":%d}`, i)))
		if _, body := pub.answer(); strings.Contains(body, `"online":true`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stream never came online")
		}
		time.Sleep(time.Millisecond)
	}
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			t.Fatalf("read stream: %v", err)
		}
		if strings.HasPrefix(line, "event: hello") {
			break
		}
	}
	// The client leaves: the stream ends promptly, as on a connection that was never the
	// lane's (the handed-off connection is detached to the writer pool like any other).
	_ = c.nc.Close()
	waitUntil(t, func() bool { return n.srv.Hub().Conns() == 0 })
}

// TestLaneShutdown: Serve's shutdown closes an idle lane connection, and Serve returns.
func TestLaneShutdown(t *testing.T) {
	n := serveH2(t, server.Config{})
	c := dialRawHTTP(t, n.addr)
	c.send(publishRequest(`{"topic":"lane:1","data":1}`))
	c.answer()
	n.stop() // fails the test unless Serve returns
	c.closed()
}
