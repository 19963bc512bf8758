package h2conn

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// fuzzConn is a connection whose client sent exactly in (after the preface) and which
// discards what the server writes.
type fuzzConn struct{ r io.Reader }

func (c *fuzzConn) Read(p []byte) (int, error)         { return c.r.Read(p) }
func (c *fuzzConn) Write(p []byte) (int, error)        { return len(p), nil }
func (c *fuzzConn) Close() error                       { return nil }
func (c *fuzzConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (c *fuzzConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c *fuzzConn) SetDeadline(t time.Time) error      { return nil }
func (c *fuzzConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *fuzzConn) SetWriteDeadline(t time.Time) error { return nil }

// FuzzFrames feeds arbitrary frames to a connection: the reader must neither panic nor
// hang, whatever the frames, headers and bodies; every handler and goroutine ends once the
// input does.
func FuzzFrames(f *testing.F) {
	f.Add(seedFrames(func(fr *http2.Framer, hb []byte) {
		_ = fr.WriteSettings()
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb, EndStream: true, EndHeaders: true})
	}))
	f.Add(seedFrames(func(fr *http2.Framer, hb []byte) {
		_ = fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb[:3], EndHeaders: false})
		_ = fr.WriteContinuation(1, true, hb[3:])
		_ = fr.WriteData(1, false, []byte("body"))
		_ = fr.WriteWindowUpdate(1, 100)
		_ = fr.WriteRSTStream(1, http2.ErrCodeCancel)
		_ = fr.WritePing(false, [8]byte{1})
		_ = fr.WriteGoAway(0, http2.ErrCodeNo, nil)
	}))
	f.Add(seedFrames(func(fr *http2.Framer, hb []byte) {
		_ = fr.WriteSettings()
		_ = fr.WriteData(3, true, []byte("no stream"))
		_ = fr.WritePriority(1, http2.PriorityParam{StreamDep: 1})
	}))
	f.Add(seedFrames(func(fr *http2.Framer, hb []byte) {
		// The stream-state and request checks h2spec tests (conformance_test.go).
		_ = fr.WriteSettings()
		cl := append(append([]byte(nil), hb...), 0x0f, 0x0d, 0x01, '2') // content-length: 2
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: cl, EndHeaders: true})
		_ = fr.WriteData(1, false, []byte("a"))
		_ = fr.WriteData(1, true, []byte("bc"))
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: hb, EndHeaders: true,
			Priority: http2.PriorityParam{StreamDep: 3}})
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: hb, EndHeaders: true})
		_ = fr.WriteRSTStream(5, http2.ErrCodeCancel)
		_ = fr.WriteData(5, true, []byte("late"))
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: hb, EndStream: true, EndHeaders: true})
		_ = fr.WriteRSTStream(9, http2.ErrCodeCancel)
	}))
	f.Add([]byte{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		s := NewServer(Config{Handler: h, WriteTimeout: time.Second})
		s.ServeConn(&fuzzConn{r: io.MultiReader(bytes.NewReader([]byte(http2.ClientPreface)), bytes.NewReader(in))})
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the connection did not end with its input")
		}
	})
}

// seedFrames encodes a seed: frames written by write, with hb a request's header block.
func seedFrames(write func(fr *http2.Framer, hb []byte)) []byte {
	var out, hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range []hpack.HeaderField{{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: "x"}, {Name: ":path", Value: "/p"}} {
		_ = enc.WriteField(f)
	}
	write(http2.NewFramer(&out, nil), hb.Bytes())
	return out.Bytes()
}
