package hub

// The chunked setup writer: its bytes on the wire, and that a write keeps no buffer of its
// own (the hub's pool lends one).

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// TestChunkedStreamFraming checks the bytes a hijacked stream's setup writes: the response
// head with the first chunk, every write one chunk, a graceful end the terminator; a write
// larger than the pool's bound is framed the same way.
func TestChunkedStreamFraming(t *testing.T) {
	srv, cl := net.Pipe()
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(cl)
		got <- b
	}()
	head := []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
	st := &chunkedStream{nc: srv, head: head, bufs: &sync.Pool{}}
	big := bytes.Repeat([]byte("x"), maxPooledChunk+1)
	deadline := time.Now().Add(time.Minute)
	for _, p := range [][]byte{[]byte(":ok\n\n"), big, []byte("data: 1\n\n")} {
		if err := st.Write(p, deadline); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	st.end(ReasonFinal)
	want := fmt.Sprintf("%s%08x\r\n:ok\n\n\r\n%08x\r\n%s\r\n%08x\r\ndata: 1\n\n\r\n0\r\n\r\n",
		head, 5, len(big), big, 9)
	if b := <-got; string(b) != want {
		t.Errorf("wire bytes differ: got %d bytes %.80q…, want %d bytes %.80q…", len(b), b, len(want), want)
	}
}

// TestChunkedStreamWriteAllocatesNothing checks that a setup write borrows its buffer from
// the pool: it allocates nothing, and the socket is written with a plain Write (a vectored
// write through net.Buffers would leave an iovec array on the socket for its life).
func TestChunkedStreamWriteAllocatesNothing(t *testing.T) {
	nc := &countConn{}
	st := &chunkedStream{nc: nc, bufs: &sync.Pool{}}
	p := []byte("data: hello\n\n")
	deadline := time.Now().Add(time.Minute)
	allocs := testing.AllocsPerRun(100, func() {
		if err := st.Write(p, deadline); err != nil {
			t.Fatal(err)
		}
	})
	// A GC during the run may empty the pool once; more than that is a buffer per write.
	if allocs >= 0.5 {
		t.Errorf("chunkedStream.Write allocates %.2f times per write, want 0", allocs)
	}
	if nc.writes != 101 {
		t.Errorf("%d writes for 101 chunks, want one each", nc.writes)
	}
}

// countConn is a net.Conn that counts and discards writes.
type countConn struct {
	net.Conn
	writes int
}

func (c *countConn) Write(p []byte) (int, error)      { c.writes++; return len(p), nil }
func (c *countConn) SetWriteDeadline(time.Time) error { return nil }
