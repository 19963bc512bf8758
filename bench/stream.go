package bench

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/heraldpush/herald/sse"
)

// The subscriber side reads raw HTTP/1.1: the response head, then a body that is either
// chunked or delimited by the end of the connection, carrying an SSE stream. stream is the
// per-connection parser state. It never allocates per event: a read's bytes are dechunked in
// place and scanned where they lie; only a line cut by the end of a read is copied aside
// (into carry, which is reused).

// Errors of a stream.
var (
	// errStatus reports a non-200 answer to the stream request.
	errStatus = errors.New("bench: stream request not answered with 200")
	// errEnded reports a stream that ended normally (a zero-length chunk, or 204).
	errEnded = errors.New("bench: stream ended")
	// errProtocol reports bytes that are not HTTP/1.1 or chunked framing.
	errProtocol = errors.New("bench: malformed response")
)

// maxHead bounds the response head.
const maxHead = 16 << 10

// Chunked-decoder states.
const (
	chunkSize    = iota // reading the hex size line
	chunkExt            // skipping a chunk extension up to LF
	chunkData           // inside chunk data; left bytes remain
	chunkDataCR         // expecting the CR (or LF) after chunk data
	chunkDataLF         // expecting the LF after chunk data
	chunkTrailer        // after the last chunk: the stream is over
)

// eventSink receives the parsed events of a stream.
type eventSink interface {
	// event is called for each bench event (data {"t":…,"seq":…}).
	event(t int64, seq uint64)
	// reset is called for each "event: reset", with its reason (one of the reset* values).
	reset(reason uint8)
	// foreign is called for each event whose data is not a bench event.
	foreign()
}

// stream parses one connection's response.
type stream struct {
	headDone bool
	chunked  bool
	chState  uint8
	chLeft   int  // data bytes left in the current chunk
	chAny    bool // the size line has a digit

	carry []byte // an unfinished head or SSE line from an earlier read

	// The SSE block being parsed.
	hasData bool
	isBench bool
	isReset bool
	reason  uint8 // of a reset block
	hasID   bool
	t       int64
	seq     uint64
	pending []byte // the block's id, committed to lastID when the block ends
	// lastID is the stream's last event ID (the cursor to resume with).
	lastID []byte
}

// begin prepares for a new connection, keeping lastID and the buffers.
func (s *stream) begin() {
	lastID := s.lastID
	carry, pending := s.carry[:0], s.pending[:0]
	*s = stream{lastID: lastID, carry: carry, pending: pending}
}

// feed parses the bytes of one read. b is modified (dechunked in place).
func (s *stream) feed(b []byte, sink eventSink) error {
	if !s.headDone {
		var err error
		if b, err = s.head(b); err != nil || b == nil {
			return err
		}
	}
	if s.chunked {
		var err error
		if b, err = s.dechunk(b); err != nil {
			return err
		}
	}
	if len(b) == 0 {
		if s.chState == chunkTrailer {
			return errEnded
		}
		return nil
	}
	if len(s.carry) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			s.carry = append(s.carry, b...)
			return s.checkCarry()
		}
		s.carry = append(s.carry, b[:i+1]...)
		s.lines(s.carry, sink)
		s.carry = s.carry[:0]
		b = b[i+1:]
	}
	rest := s.lines(b, sink)
	s.carry = append(s.carry, rest...)
	if err := s.checkCarry(); err != nil {
		return err
	}
	if s.chState == chunkTrailer {
		return errEnded
	}
	return nil
}

func (s *stream) checkCarry() error {
	if len(s.carry) > 1<<20 {
		return fmt.Errorf("%w: SSE line over 1 MiB", errProtocol)
	}
	return nil
}

// head consumes the response head. It returns the body bytes that follow it, or nil when
// the head is not complete yet.
func (s *stream) head(b []byte) ([]byte, error) {
	buf := b
	if len(s.carry) > 0 {
		s.carry = append(s.carry, b...)
		buf = s.carry
	}
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		if len(buf) > maxHead {
			return nil, fmt.Errorf("%w: response head over %d bytes", errProtocol, maxHead)
		}
		if len(s.carry) == 0 {
			s.carry = append(s.carry, b...)
		}
		return nil, nil
	}
	head := buf[:end]
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return nil, fmt.Errorf("%w: status line %q", errProtocol, line)
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return nil, fmt.Errorf("%w: status line %q", errProtocol, line)
	}
	switch code {
	case 200:
	case 204:
		return nil, errEnded
	default:
		return nil, fmt.Errorf("%w: %s", errStatus, line[9:])
	}
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(h, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("Transfer-Encoding")) &&
			bytes.Contains(bytes.ToLower(value), []byte("chunked")) {
			s.chunked = true
		}
	}
	s.headDone = true
	body := buf[end+4:]
	if len(s.carry) > 0 {
		// The body starts inside carry: move it to b's front (b is at least as long).
		n := copy(b, body)
		body = b[:n]
		s.carry = s.carry[:0]
	}
	return body, nil
}

// dechunk removes chunked framing from b in place and returns the payload bytes.
func (s *stream) dechunk(b []byte) ([]byte, error) {
	out := 0
	for i := 0; i < len(b); {
		switch s.chState {
		case chunkData:
			n := min(s.chLeft, len(b)-i)
			out += copy(b[out:], b[i:i+n])
			i += n
			s.chLeft -= n
			if s.chLeft == 0 {
				s.chState = chunkDataCR
			}
			continue
		case chunkSize:
			c := b[i]
			switch {
			case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
				if s.chLeft > 1<<28 {
					return nil, fmt.Errorf("%w: chunk too large", errProtocol)
				}
				s.chLeft = s.chLeft<<4 | int(unhex(c))
				s.chAny = true
			case c == '\r' || c == ';' || c == ' ' || c == '\t':
				s.chState = chunkExt
			case c == '\n':
				if err := s.endSize(); err != nil {
					return nil, err
				}
			default:
				return nil, fmt.Errorf("%w: chunk size byte %q", errProtocol, c)
			}
		case chunkExt:
			if b[i] == '\n' {
				if err := s.endSize(); err != nil {
					return nil, err
				}
			}
		case chunkDataCR:
			switch b[i] {
			case '\r':
				s.chState = chunkDataLF
			case '\n':
				s.chState = chunkSize
			default:
				return nil, fmt.Errorf("%w: no CRLF after chunk data", errProtocol)
			}
		case chunkDataLF:
			if b[i] != '\n' {
				return nil, fmt.Errorf("%w: no CRLF after chunk data", errProtocol)
			}
			s.chState = chunkSize
		case chunkTrailer:
			return b[:out], nil
		}
		i++
	}
	return b[:out], nil
}

// endSize ends a chunk size line.
func (s *stream) endSize() error {
	if !s.chAny {
		return fmt.Errorf("%w: empty chunk size", errProtocol)
	}
	s.chAny = false
	if s.chLeft == 0 {
		s.chState = chunkTrailer
		return nil
	}
	s.chState = chunkData
	return nil
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// lines parses the complete lines of b and returns the unfinished rest. Herald ends lines
// with LF; a CR before it is dropped (CR-only line ends are not used by servers in practice
// and are not supported here).
func (s *stream) lines(b []byte, sink eventSink) []byte {
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return b
		}
		line := b[:i]
		b = b[i+1:]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		s.line(line, sink)
	}
}

// line handles one SSE line.
func (s *stream) line(line []byte, sink eventSink) {
	if len(line) == 0 {
		s.dispatch(sink)
		return
	}
	if line[0] == ':' {
		return
	}
	name, value := sse.SplitField(line)
	switch string(name) {
	case "data":
		if s.hasData {
			s.isBench = false // several data lines: not a bench event
			return
		}
		s.hasData = true
		s.t, s.seq, s.isBench = parseData(value)
		if !s.isBench {
			s.reason = parseResetReason(value)
		}
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			s.pending = append(s.pending[:0], value...)
			s.hasID = true
		}
	case "event":
		s.isReset = string(value) == "reset"
	}
}

// dispatch ends a block.
func (s *stream) dispatch(sink eventSink) {
	if s.hasID {
		s.lastID = append(s.lastID[:0], s.pending...)
	}
	if s.hasData {
		switch {
		case s.isReset:
			sink.reset(s.reason)
		case s.isBench:
			sink.event(s.t, s.seq)
		default:
			sink.foreign()
		}
	}
	s.hasData, s.isBench, s.isReset, s.hasID, s.reason = false, false, false, false, resetOther
}

// Reset reasons, as Herald sends them in a reset's data ({"reason":"expired",…}); anything
// else is resetOther.
const (
	resetOther uint8 = iota
	resetExpired
	resetEpoch
	resetMalformed
	resetMismatch
	numResetReasons
)

// resetReasonNames are the reasons' names, as in the reset's data and in Stats.ResetReasons.
var resetReasonNames = [numResetReasons]string{"other", "expired", "epoch", "malformed", "mismatch"}

// resetReasonPrefix starts the data of Herald's reset events.
const resetReasonPrefix = `{"reason":"`

// parseResetReason reads the reason of a reset's data without allocating.
func parseResetReason(v []byte) uint8 {
	if !bytes.HasPrefix(v, []byte(resetReasonPrefix)) {
		return resetOther
	}
	v = v[len(resetReasonPrefix):]
	i := bytes.IndexByte(v, '"')
	if i < 0 {
		return resetOther
	}
	for r := resetExpired; r < numResetReasons; r++ {
		if string(v[:i]) == resetReasonNames[r] {
			return r
		}
	}
	return resetOther
}

// dataPrefix and seqSep frame a bench event's data: {"t":<unix ns>,"seq":<n>}.
const (
	dataPrefix = `{"t":`
	seqSep     = `,"seq":`
)

// appendData appends a bench event's data.
func appendData(b []byte, t int64, seq uint64) []byte {
	b = append(b, dataPrefix...)
	b = strconv.AppendInt(b, t, 10)
	b = append(b, seqSep...)
	b = strconv.AppendUint(b, seq, 10)
	return append(b, '}')
}

// parseData reads a bench event's data without allocating.
func parseData(v []byte) (t int64, seq uint64, ok bool) {
	if !bytes.HasPrefix(v, []byte(dataPrefix)) {
		return 0, 0, false
	}
	v = v[len(dataPrefix):]
	tu, v, ok := digits(v)
	if !ok || !bytes.HasPrefix(v, []byte(seqSep)) {
		return 0, 0, false
	}
	seq, v, ok = digits(v[len(seqSep):])
	if !ok || len(v) != 1 || v[0] != '}' {
		return 0, 0, false
	}
	return int64(tu), seq, true
}

// digits parses a run of decimal digits.
func digits(v []byte) (uint64, []byte, bool) {
	var n uint64
	i := 0
	for ; i < len(v) && i < 19 && v[i] >= '0' && v[i] <= '9'; i++ {
		n = n*10 + uint64(v[i]-'0')
	}
	return n, v[i:], i > 0
}
