package h2conn

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

const waitFor = 5 * time.Second

// serve runs a Server for h on a loopback listener; the accept loop hands every connection
// to ServeConn (h2c with prior knowledge).
func serve(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(cfg)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.ServeConn(nc)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		s.Close()
	})
	return s, ln.Addr().String()
}

// h2cClient is x/net's HTTP/2 client over plain TCP.
func h2cClient(t testing.TB) *http.Client {
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// Ordinary requests through the handler bridge: bodies larger than every window both ways,
// streaming with Flush, status and Content-Length, HEAD, a handler that aborts.
func TestHandlerBridge(t *testing.T) {
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("/flush", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "second\n")
	})
	mux.HandleFunc("/created", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Herald", "yes")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, "<html>made</html>")
	})
	mux.HandleFunc("/abort", func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	})
	_, addr := serve(t, Config{Handler: mux})
	client := h2cClient(t)
	base := "http://" + addr

	payload := make([]byte, 3<<20) // over the stream (256 KiB) and connection (1 MiB) windows
	_, _ = rand.Read(payload)
	resp, err := client.Post(base+"/echo", "application/octet-stream", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, payload) || resp.ProtoMajor != 2 {
		t.Fatalf("echo: %v, status %d, %d bytes back of %d", err, resp.StatusCode, len(got), len(payload))
	}

	resp, err = client.Get(base + "/flush")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first\n" {
		t.Fatalf("flushed part: %q, %v", buf, err)
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(rest) != "second\n" {
		t.Fatalf("rest %q", rest)
	}

	resp, err = client.Get(base + "/created")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || resp.ContentLength != int64(len(body)) || string(body) != "<html>made</html>" ||
		resp.Header.Get("X-Herald") != "yes" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("created: %d, length %d, %q, %v", resp.StatusCode, resp.ContentLength, body, resp.Header)
	}

	resp, err = client.Head(base + "/created")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("HEAD: %d", resp.StatusCode)
	}

	resp, err = client.Get(base + "/abort")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	var se http2.StreamError
	if !errors.As(err, &se) {
		t.Fatalf("aborted handler: %v, want a stream reset", err)
	}
}

// rawConn is a hand-driven client connection.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	fr *http2.Framer
}

func dialRaw(t testing.TB, addr string) *rawConn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &rawConn{t: t, nc: nc, fr: http2.NewFramer(nc, nc)}
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	_, _ = io.WriteString(nc, http2.ClientPreface)
	_ = c.fr.WriteSettings()
	return c
}

func (c *rawConn) get(id uint32, path string) {
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: "x"}, {Name: ":path", Value: path}} {
		_ = enc.WriteField(f)
	}
	_ = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
}

// goAway reads until GOAWAY and returns its code.
func (c *rawConn) goAway() http2.ErrCode {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(waitFor))
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.t.Fatalf("no GOAWAY: %v", err)
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			return g.ErrCode
		}
	}
}

// Floods end the connection with ENHANCE_YOUR_CALM: streams opened and reset at once
// (rapid reset), and PINGs.
func TestFloods(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-block:
		}
	})
	_, addr := serve(t, Config{Handler: h, MaxResetsPerSecond: 50, MaxControlPerSecond: 50})
	t.Run("rapid-reset", func(t *testing.T) {
		c := dialRaw(t, addr)
		for id := uint32(1); id < 400; id += 2 {
			c.get(id, "/")
			_ = c.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
		if code := c.goAway(); code != http2.ErrCodeEnhanceYourCalm {
			t.Fatalf("GOAWAY %v", code)
		}
	})
	t.Run("ping", func(t *testing.T) {
		c := dialRaw(t, addr)
		for i := range 200 {
			if c.fr.WritePing(false, [8]byte{byte(i)}) != nil {
				break
			}
		}
		if code := c.goAway(); code != http2.ErrCodeEnhanceYourCalm {
			t.Fatalf("GOAWAY %v", code)
		}
	})
	t.Run("concurrent-streams", func(t *testing.T) {
		s, addr := serve(t, Config{Handler: h, MaxConcurrentStreams: 4})
		_ = s
		c := dialRaw(t, addr)
		for id := uint32(1); id <= 9; id += 2 {
			c.get(id, "/")
		}
		_ = c.nc.SetReadDeadline(time.Now().Add(waitFor))
		for {
			f, err := c.fr.ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			if r, ok := f.(*http2.RSTStreamFrame); ok {
				if r.StreamID != 9 || r.ErrCode != http2.ErrCodeRefusedStream {
					t.Fatalf("RST_STREAM %d %v, want stream 9 refused", r.StreamID, r.ErrCode)
				}
				return
			}
		}
	})
}

// Shutdown sends GOAWAY and waits for the streams; the connection closes after the last.
func TestShutdownGoAway(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "bye")
	})
	s, addr := serve(t, Config{Handler: h})
	c := dialRaw(t, addr)
	c.get(1, "/")
	select {
	case <-started:
	case <-time.After(waitFor):
		t.Fatal("the handler did not start")
	}
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	if code := c.goAway(); code != http2.ErrCodeNo {
		t.Fatalf("GOAWAY %v", code)
	}
	close(release)
	var body []byte
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			t.Fatalf("before the response ended: %v", err)
		}
		if d, ok := f.(*http2.DataFrame); ok {
			body = append(body, d.Data()...)
			if d.StreamEnded() {
				break
			}
		}
	}
	if string(body) != "bye" {
		t.Fatalf("body %q", body)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitFor):
		t.Fatal("Shutdown did not return")
	}
}

// A connection without streams for the idle timeout gets GOAWAY (NO_ERROR) and is closed.
func TestIdleTimeoutGoAway(t *testing.T) {
	_, addr := serve(t, Config{Handler: http.NotFoundHandler(), IdleTimeout: 100 * time.Millisecond})
	c := dialRaw(t, addr)
	c.get(1, "/")
	if code := c.goAway(); code != http2.ErrCodeNo {
		t.Fatalf("GOAWAY %v", code)
	}
	for {
		if _, err := c.fr.ReadFrame(); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("after GOAWAY: %v, want the connection closed", err)
			}
			return
		}
	}
}
