package server_test

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/server"
)

// Hostile clients each hit their limit while a healthy client on the same node keeps
// receiving. The never-reading client is TestSlowConsumerIsCutOffWithBoundedMemory
// (lifecycle_test.go): cut at its queue bound while another subscriber gets every event.

// healthy is a subscriber on its own topic that must keep receiving throughout a test.
type healthy struct {
	s     *stream
	base  string
	topic string
	authz string
	n     int
}

func newHealthy(t *testing.T, base string, hasSubs func() bool, authz string) *healthy {
	t.Helper()
	h := &healthy{base: base, topic: "healthy:1", authz: authz}
	h.s = openWith(t, http.DefaultClient, base+"/v1/events?topic="+h.topic, nil)
	if h.s.Resp.StatusCode != http.StatusOK {
		t.Fatalf("healthy client: status %d", h.s.Resp.StatusCode)
	}
	waitUntil(t, hasSubs)
	return h
}

// check publishes an event and expects the healthy client to get it.
func (h *healthy) check(t *testing.T) {
	t.Helper()
	h.n++
	data := "alive-" + strconv.Itoa(h.n)
	if a := publishAs(t, nil, h.base, h.authz, h.topic, data); a.status != http.StatusOK {
		t.Fatalf("publish to the healthy client: %d %v", a.status, a.body)
	}
	h.s.Expect(t, data)
}

func TestSlowlorisIsCutOthersKeepReceiving(t *testing.T) {
	const timeout = 300 * time.Millisecond
	n := serveReal(t, server.Config{Limits: server.Limits{ReadHeaderTimeout: timeout}}, nil, listen(t))
	h := newHealthy(t, n.url, func() bool { return n.srv.Hub().Conns() == 1 }, "")

	c, err := net.Dial("tcp", strings.TrimPrefix(n.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	// Request line and headers, one byte at a time, never finishing the header block.
	req := "GET /v1/events?topic=healthy:1 HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 1000)
	cut := make(chan time.Duration, 1)
	go func() {
		for i := 0; i < len(req); i++ {
			if _, err := c.Write([]byte{req[i]}); err != nil {
				cut <- time.Since(start)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		cut <- 0
	}()
	got, err := waitClosed(c, 10*timeout)
	if err != nil {
		t.Fatalf("the server did not close a client trickling its headers within %s: %v", 10*timeout, err)
	}
	if elapsed := time.Since(start); elapsed < timeout {
		t.Fatalf("closed after %s, before the %s header timeout", elapsed, timeout)
	}
	if strings.HasPrefix(string(got), "HTTP/1.1 200") {
		t.Fatalf("slow client got a stream: %q", got)
	}
	h.check(t) // the node serves others meanwhile and after
	if n.srv.Hub().Conns() != 1 {
		t.Fatalf("conns = %d, want only the healthy one", n.srv.Hub().Conns())
	}
}

func TestSlowPublishBodyIsCut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	n := serveReal(t, server.Config{Limits: server.Limits{ReadTimeout: timeout}}, nil, listen(t))
	h := newHealthy(t, n.url, func() bool { return n.srv.Hub().Conns() == 1 }, "")
	c, err := net.Dial("tcp", strings.TrimPrefix(n.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /v1/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"topic\":")
	got, err := waitClosed(c, 10*timeout)
	if err != nil {
		t.Fatalf("a publish body that never arrives was not cut within %s: %v", 10*timeout, err)
	}
	if !strings.HasPrefix(string(got), "HTTP/1.1 400") || !strings.Contains(string(got), `"bad_request"`) {
		t.Fatalf("answer %q, want 400 bad_request (the body could not be read)", got)
	}
	h.check(t)
}

func TestOversizedPublishes(t *testing.T) {
	g := newGateway(t, server.Config{MaxBodyBytes: 4096, MaxMessageBytes: 100, MaxBatch: 3})
	h := newHealthy(t, g.url, func() bool { return g.srv.Hub().Conns() == 1 }, "")
	big := strings.Repeat("x", 8000)
	cases := []struct {
		name string
		body string
		want int
	}{
		{"body over max-body-bytes", `{"topic":"t","data":"` + big + `"}`, http.StatusRequestEntityTooLarge},
		{"message over max-message-bytes", `{"topic":"t","data":"` + big[:101] + `"}`, http.StatusRequestEntityTooLarge},
		{"message at the limit", `{"topic":"t","data":"` + big[:100] + `"}`, http.StatusOK},
		{"batch over max-batch", `{"events":[{"topic":"t"},{"topic":"t"},{"topic":"t"},{"topic":"t"}]}`, http.StatusRequestEntityTooLarge},
		{"batch with one big message", `{"events":[{"topic":"t"},{"topic":"t","data":"` + big[:200] + `"}]}`, http.StatusRequestEntityTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := do(t, nil, http.MethodPost, g.url+"/v1/publish", http.Header{"Content-Type": {"application/json"}}, c.body)
			if a.status != c.want {
				t.Fatalf("status %d, want %d (%v)", a.status, c.want, a.body)
			}
			if c.want == http.StatusRequestEntityTooLarge && a.code() != "too_large" {
				t.Fatalf("code %q, want too_large", a.code())
			}
			h.check(t)
		})
	}
}

// A connection flood from one address gets 429 (count and rate) while a client from
// another address (127.0.0.2) still connects and receives.
func TestConnectionFloodFromOneIP(t *testing.T) {
	t.Run("open streams per IP", func(t *testing.T) {
		n := serveReal(t, server.Config{Limits: server.Limits{MaxConnsPerIP: 3}}, nil, listen(t))
		flood := clientFrom("127.0.0.1")
		var held []*stream
		for i := range 3 {
			s := openWith(t, flood, n.url+"/v1/events?topic=flood:1", nil)
			if s.Resp.StatusCode != http.StatusOK {
				t.Fatalf("stream %d: status %d", i, s.Resp.StatusCode)
			}
			held = append(held, s)
		}
		for range 5 {
			a := do(t, flood, http.MethodGet, n.url+"/v1/events?topic=flood:1", nil, "")
			if a.status != http.StatusTooManyRequests || a.code() != "too_many_streams" || a.header.Get("Retry-After") == "" {
				t.Fatalf("over the per-IP count: %d %q Retry-After %q", a.status, a.code(), a.header.Get("Retry-After"))
			}
		}
		other := openWith(t, clientFrom("127.0.0.2"), n.url+"/v1/events?topic=flood:1", nil)
		if other.Resp.StatusCode != http.StatusOK {
			t.Fatalf("client from another address: %d", other.Resp.StatusCode)
		}
		waitUntil(t, func() bool { return n.srv.Hub().Conns() == 4 })
		publishAs(t, nil, n.url, "", "flood:1", "still here")
		other.Expect(t, "still here")
		// A slot comes back when a stream ends.
		held[0].Close()
		waitUntil(t, func() bool { return n.srv.Hub().Conns() == 3 })
		if s := openWith(t, flood, n.url+"/v1/events?topic=flood:1", nil); s.Resp.StatusCode != http.StatusOK {
			t.Fatalf("after one stream ended: %d, want 200", s.Resp.StatusCode)
		}
	})
	t.Run("new streams per second per IP", func(t *testing.T) {
		n := serveReal(t, server.Config{Limits: server.Limits{ConnRatePerIP: 0.5, ConnBurstPerIP: 3}}, nil, listen(t))
		flood := clientFrom("127.0.0.1")
		for i := range 3 {
			if a := do(t, flood, http.MethodHead, n.url+"/v1/events?topic=flood:2", nil, ""); a.status != http.StatusOK {
				t.Fatalf("burst request %d: %d", i, a.status)
			}
		}
		for range 20 {
			a := do(t, flood, http.MethodGet, n.url+"/v1/events?topic=flood:2", nil, "")
			if a.status != http.StatusTooManyRequests || a.code() != "rate_limited" {
				t.Fatalf("over the per-IP rate: %d %q", a.status, a.code())
			}
			if ra, _ := strconv.Atoi(a.header.Get("Retry-After")); ra < 1 || ra > 2 {
				t.Fatalf("Retry-After %q, want 1–2 s at 0.5/s", a.header.Get("Retry-After"))
			}
		}
		other := openWith(t, clientFrom("127.0.0.2"), n.url+"/v1/events?topic=flood:2", nil)
		if other.Resp.StatusCode != http.StatusOK {
			t.Fatalf("client from another address: %d", other.Resp.StatusCode)
		}
		waitUntil(t, func() bool { return n.srv.Hub().Conns() == 1 })
		publishAs(t, nil, n.url, "", "flood:2", "still here")
		other.Expect(t, "still here")
	})
}

func TestConnectionsPerUser(t *testing.T) {
	cfg := securedConfig()
	cfg.Limits.MaxConnsPerUser = 2
	g := newGateway(t, cfg)
	alice := http.Header{"Authorization": {"Bearer " + mint(t, testSecret, "alice", time.Hour, []string{"scan:*"}, nil)}}
	bob := http.Header{"Authorization": {"Bearer " + mint(t, testSecret, "bob", time.Hour, []string{"scan:*"}, nil)}}
	a1 := g.open(t, "/v1/events?topic=scan:1", alice)
	g.open(t, "/v1/events?topic=scan:2", alice)
	if a := do(t, nil, http.MethodGet, g.url+"/v1/events?topic=scan:3", alice, ""); a.status != http.StatusTooManyRequests {
		t.Fatalf("third stream of one user: %d, want 429", a.status)
	}
	if s := g.open(t, "/v1/events?topic=scan:3", bob); s.Resp.StatusCode != http.StatusOK {
		t.Fatalf("another user: %d", s.Resp.StatusCode)
	}
	a1.Close()
	// The slot is free once the ended stream's end has run (after the hub stopped counting
	// it): until then a new stream may still get 429.
	deadline := time.Now().Add(waitFor)
	for {
		s := g.open(t, "/v1/events?topic=scan:3", alice)
		if s.Resp.StatusCode == http.StatusOK {
			break
		}
		s.Close()
		if s.Resp.StatusCode != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("after a stream ended: %d, want 200", s.Resp.StatusCode)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPublishRatePerKey(t *testing.T) {
	const other = "second-publisher-key-0123456789"
	cfg := server.Config{Auth: server.AuthConfig{APIKeys: []string{testAPIKey, other}},
		Limits: server.Limits{PublishRate: 1, PublishBurst: 3}}
	g := newGateway(t, cfg)
	for i := range 3 {
		if a := publishAs(t, nil, g.url, "Bearer "+testAPIKey, "t:1", "x"); a.status != http.StatusOK {
			t.Fatalf("burst publish %d: %d", i, a.status)
		}
	}
	a := publishAs(t, nil, g.url, "Bearer "+testAPIKey, "t:1", "x")
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" {
		t.Fatalf("over the publish rate: %d %v", a.status, a.header)
	}
	if a := publishAs(t, nil, g.url, "Bearer "+other, "t:1", "x"); a.status != http.StatusOK {
		t.Fatalf("another key: %d", a.status)
	}
}

// A stream ends when its token expires (no leeway configured here); the reconnect with the
// same token is refused.
func TestTokenExpiryEndsStream(t *testing.T) {
	cfg := securedConfig()
	cfg.Auth.JWTLeeway = -1
	g := newGateway(t, cfg)
	tok := mint(t, testSecret, "42", 2*time.Second, []string{"scan:*"}, nil)
	h := http.Header{"Authorization": {"Bearer " + tok}}
	start := time.Now()
	s := g.open(t, "/v1/events?topic=scan:exp", h)
	if s.Resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", s.Resp.StatusCode)
	}
	waitUntil(t, func() bool { return g.srv.Hub().Conns() == 1 })
	publishAs(t, nil, g.url, "Bearer "+testAPIKey, "scan:exp", "before")
	s.Expect(t, "before")
	s.ExpectEnd(t)
	if el := time.Since(start); el < time.Second || el > 4*time.Second {
		t.Fatalf("stream ended after %s, want at the token's expiry (1–2 s)", el)
	}
	time.Sleep(100 * time.Millisecond)
	if a := do(t, nil, http.MethodGet, g.url+"/v1/events?topic=scan:exp", h, ""); a.status != http.StatusUnauthorized || a.code() != "token_expired" {
		t.Fatalf("reconnect with the expired token: %d %q", a.status, a.code())
	}
}
