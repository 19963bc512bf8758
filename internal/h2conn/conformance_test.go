package h2conn

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// headers sends a request's HEADERS on stream id with extra fields (and a priority when
// prio is set), ending the stream when end is set.
func (c *rawConn) headers(id uint32, path string, end bool, prio *http2.PriorityParam, extra ...hpack.HeaderField) {
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	fields := append([]hpack.HeaderField{{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: "x"}, {Name: ":path", Value: path}}, extra...)
	for _, f := range fields {
		_ = enc.WriteField(f)
	}
	p := http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndStream: end, EndHeaders: true}
	if prio != nil {
		p.Priority = *prio
	}
	_ = c.fr.WriteHeaders(p)
}

// answer reads frames until the connection or stream id ends, and tells how: "GOAWAY
// <code>", "RST_STREAM <code>" or "status <code>" (a response's HEADERS on id).
func (c *rawConn) answer(id uint32) string {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(waitFor))
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.t.Fatalf("no answer on stream %d: %v", id, err)
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			return "GOAWAY " + f.ErrCode.String()
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				return "RST_STREAM " + f.ErrCode.String()
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID == id {
				return "status " + f.PseudoValue("status")
			}
		}
	}
}

// The stream states and request checks of RFC 9113 that h2spec tests (its case numbers
// in the names), each on a connection of its own; server/h2spec_test.go runs h2spec itself.
func TestConformance(t *testing.T) {
	hold := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/block":
			<-r.Context().Done()
			return
		case "/hold": // on after a reset: the stream stays in the table
			<-hold
			return
		}
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			return
		}
		w.Header().Set("X-Read", strconv.FormatInt(n, 10))
	})
	_, addr := serve(t, Config{Handler: h})
	t.Cleanup(func() { close(hold) }) // before the server's Close
	cl := func(n string) hpack.HeaderField { return hpack.HeaderField{Name: "content-length", Value: n} }
	for _, tc := range []struct {
		name string
		send func(c *rawConn)
		id   uint32
		want string
	}{
		{"4.2-2 DATA over max frame size", func(c *rawConn) {
			c.headers(1, "/", false, nil)
			_ = c.fr.WriteData(1, true, make([]byte, maxFrameSize+1))
		}, 1, "GOAWAY FRAME_SIZE_ERROR"},
		{"4.2-3 HEADERS over max frame size", func(c *rawConn) {
			c.headers(1, "/", true, nil, hpack.HeaderField{Name: "x-big", Value: string(make([]byte, maxFrameSize))})
		}, 1, "GOAWAY FRAME_SIZE_ERROR"},
		{"5.1-2 RST_STREAM on an idle stream", func(c *rawConn) {
			_ = c.fr.WriteRSTStream(1, http2.ErrCodeCancel)
		}, 1, "GOAWAY PROTOCOL_ERROR"},
		{"5.1-3 WINDOW_UPDATE on an idle stream", func(c *rawConn) {
			_ = c.fr.WriteWindowUpdate(1, 100)
		}, 1, "GOAWAY PROTOCOL_ERROR"},
		{"6.4-2 RST_STREAM on an idle even stream", func(c *rawConn) {
			c.headers(1, "/block", true, nil)
			_ = c.fr.WriteRSTStream(2, http2.ErrCodeCancel)
		}, 1, "GOAWAY PROTOCOL_ERROR"},
		{"5.1-6 HEADERS on a half-closed (remote) stream", func(c *rawConn) {
			c.headers(1, "/block", true, nil)
			c.headers(1, "/block", true, nil)
		}, 1, "RST_STREAM STREAM_CLOSED"},
		{"5.1-8 DATA after RST_STREAM", func(c *rawConn) {
			c.headers(1, "/block", false, nil)
			_ = c.fr.WriteRSTStream(1, http2.ErrCodeCancel)
			_ = c.fr.WriteData(1, true, []byte("late"))
		}, 1, "RST_STREAM STREAM_CLOSED"},
		{"5.1-9 HEADERS after RST_STREAM", func(c *rawConn) {
			c.headers(1, "/hold", false, nil)
			_ = c.fr.WriteRSTStream(1, http2.ErrCodeCancel)
			c.headers(1, "/hold", true, nil)
		}, 1, "RST_STREAM STREAM_CLOSED"},
		{"5.1-13 HEADERS on a closed stream", func(c *rawConn) {
			c.headers(1, "/", true, nil)
			if got := c.answer(1); got != "status 200" {
				c.t.Fatalf("request: %s", got)
			}
			c.headers(3, "/block", true, nil)
			c.headers(1, "/", true, nil)
		}, 1, "GOAWAY STREAM_CLOSED"},
		{"5.1-11 DATA on a closed stream", func(c *rawConn) {
			c.headers(1, "/", true, nil)
			if got := c.answer(1); got != "status 200" {
				c.t.Fatalf("request: %s", got)
			}
			_ = c.fr.WriteData(1, true, []byte("late"))
		}, 1, "RST_STREAM STREAM_CLOSED"},
		{"5.3.1-1 HEADERS depending on itself", func(c *rawConn) {
			c.headers(1, "/", true, &http2.PriorityParam{StreamDep: 1, Weight: 15})
		}, 1, "RST_STREAM PROTOCOL_ERROR"},
		{"5.3.1-2 PRIORITY depending on itself", func(c *rawConn) {
			c.headers(1, "/block", true, nil)
			_ = c.fr.WritePriority(1, http2.PriorityParam{StreamDep: 1, Weight: 15})
		}, 1, "RST_STREAM PROTOCOL_ERROR"},
		{"8.1.2.2-1 connection-specific field", func(c *rawConn) {
			c.headers(1, "/", true, nil, hpack.HeaderField{Name: "connection", Value: "keep-alive"})
		}, 1, "RST_STREAM PROTOCOL_ERROR"},
		{"8.1.2.2-2 TE other than trailers", func(c *rawConn) {
			c.headers(1, "/", true, nil, hpack.HeaderField{Name: "te", Value: "trailers, deflate"})
		}, 1, "RST_STREAM PROTOCOL_ERROR"},
		{"WINDOW_UPDATE after a malformed HEADERS is not on an idle stream", func(c *rawConn) {
			c.headers(1, "/", false, nil, hpack.HeaderField{Name: "X-Upper", Value: "v"})
			if got := c.answer(1); got != "RST_STREAM PROTOCOL_ERROR" {
				c.t.Fatalf("malformed HEADERS: %s", got)
			}
			_ = c.fr.WriteWindowUpdate(1, 100)
			c.headers(3, "/", true, nil)
		}, 3, "status 200"},
		{"TE trailers is fine", func(c *rawConn) {
			c.headers(1, "/", true, nil, hpack.HeaderField{Name: "te", Value: "trailers"})
		}, 1, "status 200"},
		{"8.1.2.6-1 body over its Content-Length", func(c *rawConn) {
			c.headers(1, "/", false, nil, cl("1"))
			_ = c.fr.WriteData(1, true, []byte("test"))
		}, 1, "RST_STREAM PROTOCOL_ERROR"},
		{"8.1.2.6-2 DATA frames over the Content-Length", func(c *rawConn) {
			c.headers(1, "/", false, nil, cl("6"))
			_ = c.fr.WriteData(1, false, []byte("test"))
			_ = c.fr.WriteData(1, true, []byte("test"))
		}, 1, "RST_STREAM PROTOCOL_ERROR"},
		{"body under its Content-Length", func(c *rawConn) {
			c.headers(1, "/", false, nil, cl("10"))
			_ = c.fr.WriteData(1, true, []byte("test"))
		}, 1, "RST_STREAM PROTOCOL_ERROR"},
		{"body under its Content-Length, ended by trailers", func(c *rawConn) {
			c.headers(1, "/", false, nil, cl("10"))
			_ = c.fr.WriteData(1, false, []byte("test"))
			c.headers(1, "/", true, nil)
		}, 1, "RST_STREAM PROTOCOL_ERROR"},
		{"body of its Content-Length", func(c *rawConn) {
			c.headers(1, "/", false, nil, cl("8"))
			_ = c.fr.WriteData(1, false, []byte("test"))
			_ = c.fr.WriteData(1, true, []byte("test"))
		}, 1, "status 200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, addr)
			tc.send(c)
			if got := c.answer(tc.id); got != tc.want {
				t.Fatalf("%s, want %s", got, tc.want)
			}
		})
	}
}
