package hub

// HTTP/1.1 chunked framing of detached streams: after the hijack the hub writes the response
// body itself, so every write is one chunk and a graceful end writes the terminator.

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// chunkHead is the room reserved before a chunk's payload for its size line: eight hex digits
// (leading zeros are valid chunk-size syntax) and CRLF, filled in once the size is known.
const chunkHead = len(chunkRoom)

// chunkRoom is what a chunk's size line holds until it is filled in.
const chunkRoom = "00000000\r\n"

// chunkEnd ends a chunked body.
const chunkEnd = "0\r\n\r\n"

// sealChunk fills in the size line reserved at the start of b and ends the chunk.
func sealChunk(b []byte) []byte {
	putChunkSize(b, len(b)-chunkHead)
	return append(b, '\r', '\n')
}

// putChunkSize writes the size line of a chunk of size bytes into b[:chunkHead].
func putChunkSize(b []byte, size int) {
	const hex = "0123456789abcdef"
	for i := 7; i >= 0; i-- {
		b[i] = hex[size&0xf]
		size >>= 4
	}
	b[8], b[9] = '\r', '\n'
}

// chunkedStream writes a stream's setup (and, without the pool, its whole life) to a
// hijacked HTTP/1.1 connection as chunks, with blocking writes.
//
// Each chunk (with the response head before the first) is assembled in a buffer borrowed
// from the hub's pool and written with one plain write: a vectored write (net.Buffers) would
// cost the same one syscall but make the socket keep its iovec array for its whole life.
type chunkedStream struct {
	nc          net.Conn
	head        []byte     // the response head, sent with the first write
	bufs        *sync.Pool // the hub's chunk buffers (*[]byte)
	mu          sync.Mutex
	interrupted bool
	failed      bool
}

// maxPooledChunk bounds the buffers a chunkedStream gives back to the pool.
const maxPooledChunk = 64 << 10

func (s *chunkedStream) Write(p []byte, deadline time.Time) error {
	s.mu.Lock()
	if s.interrupted {
		s.mu.Unlock()
		return errInterrupted
	}
	_ = s.nc.SetWriteDeadline(deadline)
	s.mu.Unlock()
	var bp *[]byte
	if s.bufs != nil {
		bp, _ = s.bufs.Get().(*[]byte)
	}
	if bp == nil {
		bp = new([]byte)
	}
	b := append((*bp)[:0], s.head...)
	s.head = nil
	at := len(b)
	b = append(b, chunkRoom...)
	putChunkSize(b[at:], len(p))
	b = append(b, p...)
	b = append(b, '\r', '\n')
	_, err := s.nc.Write(b)
	if s.bufs != nil && cap(b) <= maxPooledChunk {
		*bp = b[:0]
		s.bufs.Put(bp)
	}
	if err != nil {
		s.failed = true
		return err
	}
	return nil
}

func (s *chunkedStream) Interrupt() {
	s.mu.Lock()
	s.interrupted = true
	_ = s.nc.SetWriteDeadline(aLongTimeAgo)
	s.mu.Unlock()
}

// end closes the connection, first ending the body cleanly when r is graceful.
func (s *chunkedStream) end(r Reason) {
	if graceful(r) && !s.failed {
		_ = s.nc.SetWriteDeadline(time.Now().Add(time.Second))
		if s.head != nil {
			_, _ = s.nc.Write(append(s.head, chunkEnd...))
		} else {
			_, _ = s.nc.Write([]byte(chunkEnd))
		}
	}
	closeSocket(s.nc, r)
}

var errInterrupted = errors.New("hub: stream interrupted")

// sockConn is a detached stream's hijacked socket: its chunked setup writes, then what the
// writer pool needs to write it (pool.go) and the poller to watch it (poller_linux.go).
type sockConn struct {
	chunkedStream
	raw  syscall.RawConn
	pend []byte // owner only: the unwritten tail of a partial write
	junk int32  // poller only: bytes the client sent and the poller discarded
}
