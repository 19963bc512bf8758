// Package sse is Herald's wire format: it encodes Server-Sent Events frames on the server and
// parses event streams on the client, following the WHATWG "server-sent events" grammar.
//
// Encoding never lets data break framing: every CR, LF or CRLF in data starts a new "data:"
// line, so a frame always ends exactly at its blank line. Ids and event names are written as
// given; callers pass only values validated to hold no CR, LF or NUL (herald.EventName and
// cursors guarantee it).
//
// The functions append to a caller's buffer and never allocate beyond its growth, so a hub can
// encode a frame once and share the bytes with every subscriber.
package sse

import (
	"bytes"
	"strconv"
	"time"
)

// AppendID appends an "id:" line.
func AppendID(b, id []byte) []byte {
	b = AppendIDPrefix(b)
	b = append(b, id...)
	return append(b, '\n')
}

// AppendIDPrefix appends the start of an "id:" line, for callers that encode the id in place
// (a cursor) and then end the line with '\n' themselves.
func AppendIDPrefix(b []byte) []byte { return append(b, "id: "...) }

// AppendEvent appends the rest of a frame after its id line: an optional "event:" line, the
// data as one or more "data:" lines, and the blank line that dispatches the event.
func AppendEvent(b []byte, name string, data []byte) []byte {
	if name != "" {
		b = append(b, "event: "...)
		b = append(b, name...)
		b = append(b, '\n')
	}
	for {
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			break
		}
		b = append(b, "data: "...)
		b = append(b, data[:i]...)
		b = append(b, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	b = append(b, "data: "...)
	b = append(b, data...)
	return append(b, '\n', '\n')
}

// AppendComment appends a comment line (ignored by clients; used as a heartbeat and as the
// stream's first bytes). Line breaks in text are replaced by spaces.
func AppendComment(b []byte, text string) []byte {
	b = append(b, ':')
	if text != "" {
		b = append(b, ' ')
		for i := 0; i < len(text); i++ {
			c := text[i]
			if c == '\r' || c == '\n' || c == 0 {
				c = ' '
			}
			b = append(b, c)
		}
	}
	return append(b, '\n', '\n')
}

// AppendRetry appends a "retry:" line telling the client how long to wait before reconnecting.
func AppendRetry(b []byte, d time.Duration) []byte {
	b = append(b, "retry: "...)
	b = strconv.AppendInt(b, d.Milliseconds(), 10)
	return append(b, '\n', '\n')
}

// EncodedLen returns an upper bound of the bytes AppendEvent writes for name and data, so a
// caller can size its buffer once.
func EncodedLen(name string, data []byte) int {
	n := len("event: \n") + len(name) + len("data: \n\n") + len(data)
	n += bytes.Count(data, []byte{'\n'})*len("data: ") + bytes.Count(data, []byte{'\r'})*len("data: ")
	return n
}
