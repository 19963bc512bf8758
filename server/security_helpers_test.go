package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/internal/syncbuf"
	"github.com/heraldpush/herald/server"
)

const (
	testSecret = "test-secret-0123456789abcdef"
	testAPIKey = "publisher-key-0123456789abcdef"
	testAdmin  = "admin-token-0123456789abcdef"
)

// mint signs a token for sub with the given patterns, valid for ttl (negative: expired).
func mint(t *testing.T, key, sub string, ttl time.Duration, subscribe, publish []string) string {
	t.Helper()
	c := auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: sub, ExpiresAt: jwt.NewNumericDate(time.Now().Add(ttl))},
		Herald:           auth.HeraldClaims{Subscribe: subscribe, Publish: publish},
	}
	tok, err := auth.Mint([]byte(key), "HS256", c)
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	return tok
}

// algNone builds an unsigned token ("alg": "none") that allows everything.
func algNone(sub string) string {
	enc := base64.RawURLEncoding.EncodeToString
	claims, _ := json.Marshal(map[string]any{"sub": sub, "exp": time.Now().Add(time.Hour).Unix(),
		"herald": map[string]any{"subscribe": []string{"*"}, "publish": []string{"*"}}})
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(claims) + "."
}

// withToken returns the URL and header for a request carrying tok from source ("header",
// "cookie", "query"; "" or an empty tok: no credential).
func withToken(rawURL, tok, source string) (string, http.Header) {
	h := http.Header{}
	if tok == "" {
		return rawURL, h
	}
	switch source {
	case "header":
		h.Set("Authorization", "Bearer "+tok)
	case "cookie":
		h.Set("Cookie", auth.DefaultCookie+"="+tok)
	case "query":
		sep := "?"
		if strings.Contains(rawURL, "?") {
			sep = "&"
		}
		rawURL += sep + "token=" + url.QueryEscape(tok)
	}
	return rawURL, h
}

// answer is a decoded non-stream response.
type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func (a answer) code() string { s, _ := a.body["code"].(string); return s }

// do sends a request with client (http.DefaultClient when nil) and reads a JSON answer; a
// 200 event stream is closed at once.
func do(t *testing.T, client *http.Client, method, rawURL string, header http.Header, body string) answer {
	t.Helper()
	if client == nil {
		client = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, rawURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		raw, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("%s %s: answer %q is not JSON", method, rawURL, raw)
		}
	}
	return a
}

// publishAs publishes one event with an Authorization header value ("" for none).
func publishAs(t *testing.T, client *http.Client, base, authz, topic, data string) answer {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"topic": topic, "data": data})
	h := http.Header{"Content-Type": {"application/json"}}
	if authz != "" {
		h.Set("Authorization", authz)
	}
	return do(t, client, http.MethodPost, base+"/v1/publish", h, string(body))
}

// clientFrom returns an HTTP client whose connections come from the local address ip.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: waitFor}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// realNode is a node served by Server.Serve itself (its http.Server: header timeout, error
// log), on a listener the test chooses.
type realNode struct {
	srv *server.Server
	url string
}

func serveReal(t *testing.T, cfg server.Config, logger *slog.Logger, ln net.Listener) *realNode {
	t.Helper()
	eng := memory.New(memory.Options{Retention: cfg.Retention})
	srv, err := server.New(testConfig(cfg), eng, server.Options{EngineName: "memory", Logger: logger})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, func(a net.Addr) { ready <- a }) }()
	addr := <-ready
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Serve did not return")
		}
		eng.Close()
	})
	return &realNode{srv: srv, url: "http://" + addr.String()}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// remoteListener makes every accepted connection look like it comes from a public
// address, so that a test over real TCP on loopback sees a non-loopback client.
type remoteListener struct{ net.Listener }

type remoteConn struct{ net.Conn }

func (l remoteListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return remoteConn{c}, nil
}

func (c remoteConn) RemoteAddr() net.Addr {
	port := c.Conn.RemoteAddr().(*net.TCPAddr).Port
	return &net.TCPAddr{IP: net.ParseIP("203.0.113.7"), Port: port}
}

// logBuffer is a concurrency-safe log sink.
type logBuffer = syncbuf.Buffer

// waitClosed reads from c until the server closes it, and returns the bytes read.
func waitClosed(c net.Conn, within time.Duration) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(within))
	got, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return got, err
	}
	return got, nil
}
