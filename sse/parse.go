package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"
)

// Parser limits. A line or an event longer than its limit stops the Reader with an error
// (the stream cannot be resynchronised, so the error is final).
const (
	// DefaultMaxLineLen is the longest line (without its line end) a Reader accepts.
	DefaultMaxLineLen = 1 << 20
	// DefaultMaxEventLen is the most data (the joined data lines) one event may carry.
	DefaultMaxEventLen = 8 << 20
)

// readChunk is the size of the Reader's first buffer and of its reads from the source.
const readChunk = 32 << 10

var (
	// ErrLineTooLong reports a line longer than the Reader's line limit.
	ErrLineTooLong = errors.New("sse: line too long")
	// ErrEventTooLong reports an event whose data exceeds the Reader's event limit.
	ErrEventTooLong = errors.New("sse: event too long")
)

// Event is one dispatched event of a stream.
type Event struct {
	// ID is the stream's last event ID when the event was dispatched, as a browser's
	// MessageEvent.lastEventId: set by this event's "id:" line or carried over from an
	// earlier block.
	ID string
	// HasID reports whether this event's own block had a (valid) "id:" line.
	HasID bool
	// Name is the "event:" field; "" when the block had none (a browser calls it "message").
	Name string
	// Data is the event's data lines joined with "\n". It points into the Reader's buffer
	// and is valid only until the next call of Next: copy it to keep it.
	Data []byte
}

// Reader parses a text/event-stream incrementally, following the WHATWG "interpreting an
// event stream" rules exactly:
//
//   - lines end in CRLF, LF or CR (a CR ending one read and an LF starting the next are one
//     line end; a CR is acted on at once, never held back waiting for an LF);
//   - a leading UTF-8 byte order mark is skipped;
//   - "name: value" fields lose one optional space after the colon; a line without a colon
//     is a field with an empty value; unknown fields are ignored;
//   - lines starting with ':' are comments, reported to the function set by OnComment;
//   - "id" sets the last event ID unless its value holds a NUL; the ID takes effect when
//     its block ends, even if the block has no data (then nothing is dispatched but
//     LastEventID changes), and is discarded with an unfinished block at end of stream;
//   - "retry" sets the reconnection time when its value is only ASCII digits;
//   - data lines are joined with "\n"; a block is dispatched at a blank line, never at the
//     end of the stream.
//
// Reader reads its source in large chunks and reuses its buffers: a steady stream costs
// no allocation per event except its ID string when the ID changes and its Name when the
// name changes. A Reader is not safe for concurrent use.
type Reader struct {
	src io.Reader
	err error // sticky error of src or of the limits

	buf  []byte // read buffer; unread bytes are buf[r:w]
	r, w int
	// noLF is an index into buf below which buf[r:] holds no LF (so CR-only streams are
	// scanned once, not once per line).
	noLF int

	bomDone bool // the stream's start was checked for a byte order mark
	skipLF  bool // the last line ended in CR: an LF right after it belongs to that line end

	// The block being parsed.
	data    []byte // data lines, each followed by "\n"
	hasData bool
	name    []byte
	hasID   bool
	pending bool // the block has seen any line (for io.ErrUnexpectedEOF)

	idBuf  string // last event ID buffer (set by "id:" lines)
	lastID string // last event ID string (set from idBuf when a block ends)
	retry  time.Duration
	hasRet bool
	names  string // the previous event name, reused when it repeats

	onComment func(text []byte)

	maxLine, maxEvent int
}

// NewReader returns a Reader of the event stream r with the default limits.
func NewReader(r io.Reader) *Reader {
	return &Reader{src: r, maxLine: DefaultMaxLineLen, maxEvent: DefaultMaxEventLen}
}

// SetLimits sets the longest line and the most data per event the Reader accepts; a value
// <= 0 keeps the current limit. Call it before the first Next.
func (r *Reader) SetLimits(maxLine, maxEvent int) {
	if maxLine > 0 {
		r.maxLine = maxLine
	}
	if maxEvent > 0 {
		r.maxEvent = maxEvent
	}
}

// OnComment sets a function called with the text of each comment line (after the ':' and
// one optional space) while Next reads; Herald sends comments as heartbeats. text is valid
// only during the call.
func (r *Reader) OnComment(f func(text []byte)) { r.onComment = f }

// LastEventID returns the stream's last event ID: the value of the latest "id:" line whose
// block has ended, "" before any. A client reconnecting sends it as Last-Event-ID.
func (r *Reader) LastEventID() string { return r.lastID }

// Retry returns the reconnection time set by the latest valid "retry:" line, and whether
// there was one.
func (r *Reader) Retry() (time.Duration, bool) { return r.retry, r.hasRet }

// Next reads up to the next dispatched event and returns it. At the end of the stream it
// returns io.EOF, or io.ErrUnexpectedEOF when the stream ended inside a block (whose
// fields, including an id, are discarded); other errors come from the source or the
// limits. After an error every later call returns an error.
func (r *Reader) Next() (Event, error) {
	for {
		line, err := r.readLine()
		if err != nil {
			if err == io.EOF && (r.pending || r.r < r.w) {
				err = io.ErrUnexpectedEOF
			}
			return Event{}, err
		}
		if len(line) == 0 {
			if ev, ok := r.endBlock(); ok {
				return ev, nil
			}
			continue
		}
		if line[0] != ':' {
			r.pending = true
		}
		if err := r.field(line); err != nil {
			r.err = err
			return Event{}, err
		}
	}
}

// endBlock ends the current block at a blank line: it commits the last event ID and
// returns the event to dispatch, if the block had data.
func (r *Reader) endBlock() (Event, bool) {
	r.lastID = r.idBuf
	r.pending = false
	hasID := r.hasID
	r.hasID = false
	if !r.hasData {
		r.name = r.name[:0]
		r.data = r.data[:0]
		return Event{}, false
	}
	if string(r.name) != r.names {
		r.names = string(r.name)
	}
	ev := Event{ID: r.lastID, HasID: hasID, Name: r.names, Data: r.data[:len(r.data)-1]}
	r.name = r.name[:0]
	r.data = r.data[:0]
	r.hasData = false
	return ev, true
}

// SplitField splits a non-comment line of an event stream into its field name and value
// as the WHATWG parser does: at the first colon, dropping one space after it; a line without
// a colon is a name with an empty value. The results alias line.
func SplitField(line []byte) (name, value []byte) {
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return line, line[len(line):]
	}
	name, value = line[:i], line[i+1:]
	if len(value) > 0 && value[0] == ' ' {
		value = value[1:]
	}
	return name, value
}

// field processes one non-empty line.
func (r *Reader) field(line []byte) error {
	if line[0] == ':' {
		if r.onComment != nil {
			text := line[1:]
			if len(text) > 0 && text[0] == ' ' {
				text = text[1:]
			}
			r.onComment(text)
		}
		return nil
	}
	name, value := SplitField(line)
	switch string(name) {
	case "data":
		if len(r.data)+len(value)+1 > r.maxEvent+1 {
			return fmt.Errorf("%w: more than %d bytes of data", ErrEventTooLong, r.maxEvent)
		}
		r.data = append(r.data, value...)
		r.data = append(r.data, '\n')
		r.hasData = true
	case "event":
		r.name = append(r.name[:0], value...)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			if string(value) != r.idBuf {
				r.idBuf = string(value)
			}
			r.hasID = true
		}
	case "retry":
		if d, ok := parseRetry(value); ok {
			r.retry, r.hasRet = d, true
		}
	}
	return nil
}

// parseRetry parses a retry value of ASCII digits as milliseconds, saturating instead of
// overflowing.
func parseRetry(v []byte) (time.Duration, bool) {
	if len(v) == 0 {
		return 0, false
	}
	const maxMS = int64(1<<63-1) / int64(time.Millisecond)
	var ms int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		if ms <= maxMS {
			ms = ms*10 + int64(c-'0')
		}
	}
	if ms > maxMS {
		ms = maxMS
	}
	return time.Duration(ms) * time.Millisecond, true
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// readLine returns the next line without its line end. The line points into r.buf and is
// valid until the next call.
func (r *Reader) readLine() ([]byte, error) {
	for {
		if r.skipLF && r.r < r.w {
			if r.buf[r.r] == '\n' {
				r.r++
			}
			r.skipLF = false
		}
		if !r.bomDone {
			// Decide once three bytes, a non-BOM prefix or the end of the stream are seen.
			head := r.buf[r.r:r.w]
			if len(head) >= len(bom) || !bytes.HasPrefix(bom, head) || r.err != nil {
				if bytes.HasPrefix(head, bom) {
					r.r += len(bom)
				}
				r.bomDone = true
			}
		}
		if r.bomDone {
			line, ok := r.scanLine()
			if ok && len(line) <= r.maxLine {
				return line, nil
			}
			if ok || r.w-r.r > r.maxLine {
				r.err = fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, r.maxLine)
			}
		}
		if r.err != nil {
			return nil, r.err
		}
		r.fill()
	}
}

// scanLine cuts the next complete line out of buf[r:w].
func (r *Reader) scanLine() ([]byte, bool) {
	win := r.buf[r.r:r.w]
	end := -1
	from := max(r.noLF-r.r, 0)
	if i := bytes.IndexByte(win[from:], '\n'); i >= 0 {
		end = from + i
	} else {
		r.noLF = r.w
	}
	cr := win
	if end >= 0 {
		cr = win[:end]
	}
	if i := bytes.IndexByte(cr, '\r'); i >= 0 {
		end = i
		// A CR ends the line; an LF right after it is part of the same line end.
		if end+1 < len(win) {
			if win[end+1] == '\n' {
				r.r++
			}
		} else {
			r.skipLF = true
		}
	}
	if end < 0 {
		return nil, false
	}
	line := win[:end]
	r.r += end + 1
	return line, true
}

// fill reads more of the source into buf, compacting or growing it as needed.
func (r *Reader) fill() {
	if r.r > 0 {
		n := copy(r.buf, r.buf[r.r:r.w])
		r.noLF = max(r.noLF-r.r, 0)
		r.r, r.w = 0, n
	}
	if r.w == len(r.buf) {
		size := max(2*len(r.buf), readChunk)
		// Room for the longest line plus its line end, and a little to read into.
		size = min(size, r.maxLine+readChunk)
		if size <= len(r.buf) {
			size = len(r.buf) + readChunk
		}
		nb := make([]byte, size)
		copy(nb, r.buf[:r.w])
		r.buf = nb
	}
	for range 100 {
		n, err := r.src.Read(r.buf[r.w:])
		if n < 0 || n > len(r.buf)-r.w {
			r.err = errors.New("sse: source returned an invalid count")
			return
		}
		r.w += n
		if err != nil {
			r.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	r.err = io.ErrNoProgress
}
