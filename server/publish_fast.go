package server

// The single-event fast path of publish decoding. Most publishers send one event per
// request: {"topic":"…","event":"…","data":…}. Decoding that with encoding/json's Decoder
// (with DisallowUnknownFields) costs a third of the request's CPU and fifteen allocations;
// decodeSingle reads the same plain shape by hand, and anything it does not know for sure
// (escapes or non-ASCII in the topic or event, other or repeated keys, "events", null, an
// unusual sent_time, a malformed value) goes to the Decoder, which decides and words the
// error exactly as before.

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
)

// maxFastBody is the largest body read whole for decodeSingle; larger bodies stream
// through the Decoder.
const maxFastBody = 16 << 10

// bodyBufs holds the buffers single-event bodies are read into (nothing keeps a reference
// to one: decodeSingle copies the data out).
var bodyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// readBody reads the whole body of a request that declared its Content-Length n (at most
// maxFastBody) into a pooled buffer. On an error it returns what was read and the error as
// the body reader gave it; put the buffer back with bodyBufs.Put.
func readBody(body io.Reader, n int64) (bp *[]byte, b []byte, err error) {
	bp = bodyBufs.Get().(*[]byte)
	if int64(cap(*bp)) < n {
		*bp = make([]byte, 0, n)
	}
	b = (*bp)[:n]
	read := 0
	for read < len(b) {
		m, err := body.Read(b[read:])
		read += m
		if err != nil {
			if err == io.EOF && read == len(b) {
				break
			}
			return bp, b[:read], err
		}
	}
	return bp, b, nil
}

// errReader returns err from every Read: after the bytes read before it, the Decoder meets
// the error the body reader gave.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// fastBodyLen reports the body length for the fast path: the declared Content-Length when
// it is known, not over the body limit and small enough; -1 otherwise.
func (s *Server) fastBodyLen(r *http.Request) int64 {
	n := r.ContentLength
	if n <= 0 || n > maxFastBody || n > int64(s.cfg.MaxBodyBytes) {
		return -1
	}
	return n
}

// decodeSingle decodes b when it is a single event in the plain shape, with the same result
// as the Decoder; ok is false when the Decoder must decide. Data is copied out of b.
func decodeSingle(b []byte) (it publishItem, ok bool) {
	const (
		seenTopic = 1 << iota
		seenEvent
		seenData
		seenFinal
		seenSent
	)
	var seen uint8
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return it, false
	}
	i++
	for {
		key, j, ok := plainString(b, skipSpace(b, i))
		if !ok {
			return it, false
		}
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return it, false
		}
		i = skipSpace(b, i+1)
		var bit uint8
		switch string(key) {
		case "topic":
			bit = seenTopic
			var v []byte
			if v, j, ok = plainString(b, i); !ok {
				return it, false
			}
			t := string(v)
			it.Topic = &t
		case "event":
			bit = seenEvent
			var v []byte
			if v, j, ok = plainString(b, i); !ok {
				return it, false
			}
			it.Event = string(v)
		case "data":
			bit = seenData
			j = valueEnd(b, i)
			v := b[i:j]
			if j <= i || string(v) == "null" || !json.Valid(v) {
				return it, false
			}
			it.Data = append(json.RawMessage(nil), v...)
		case "final":
			bit = seenFinal
			switch {
			case hasLiteral(b, i, "true"):
				it.Final, j = true, i+4
			case hasLiteral(b, i, "false"):
				it.Final, j = false, i+5
			default:
				return it, false
			}
		case "sent_time":
			bit = seenSent
			j = i
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				j++
			}
			if j == i || (b[i] == '0' && j > i+1) || j-i > 19 {
				return it, false
			}
			it.SentTime = json.Number(b[i:j])
		default:
			return it, false
		}
		if seen&bit != 0 {
			return it, false
		}
		seen |= bit
		i = skipSpace(b, j)
		if i >= len(b) {
			return it, false
		}
		if b[i] == '}' {
			break
		}
		if b[i] != ',' {
			return it, false
		}
		i++
	}
	if skipSpace(b, i+1) != len(b) {
		return it, false
	}
	return it, true
}

// skipSpace returns the index of the first byte at or after i that is not JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads the JSON string starting at b[i] when it holds only printable ASCII
// without escapes: its contents and the index after its closing quote.
func plainString(b []byte, i int) (s []byte, end int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// hasLiteral reports whether b holds lit at i, followed by a byte that can end a value.
func hasLiteral(b []byte, i int, lit string) bool {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return false
	}
	j := i + len(lit)
	return j < len(b) && isDelim(b[j])
}

// isDelim reports whether c may follow a literal inside an object.
func isDelim(c byte) bool {
	return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// valueEnd returns the index just after the JSON value starting at b[i], found by its
// brackets and strings only (the caller validates it); i when there is none.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	depth := 0
	for j := i; j < len(b); j++ {
		switch c := b[j]; c {
		case '"':
			j++
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(b) {
				return i
			}
			if depth == 0 {
				return j + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return j // the end of a literal
			}
			depth--
			if depth == 0 {
				return j + 1
			}
		default:
			if depth == 0 && isDelim(c) {
				return j
			}
		}
	}
	if depth != 0 {
		return i
	}
	return len(b)
}
