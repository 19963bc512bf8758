package h1conn

// Parsing a request head. The lane serves only heads it understands completely; parseHead
// says "not mine" (ok false) for anything else, and the connection goes to net/http, which
// answers it exactly as it always did (its 400s included).

import (
	"bytes"
	"net/http"
	"net/textproto"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// head is a parsed request head.
type head struct {
	query   string      // the request target's query, without '?'
	force   bool        // the target ends with an empty query ("?"): url.URL.ForceQuery
	uri     string      // the request target as sent
	header  http.Header // without Host, as net/http leaves it
	host    string
	clen    int64 // the body's length (Content-Length)
	close   bool  // Connection: close
	headLen int   // bytes of the head, the blank line included
}

// parseHead parses the request head at the start of b. It accepts only "POST <path>[?query] HTTP/1.1" with
// exactly one Host, one Content-Length of at most maxBody, no Transfer-Encoding, Expect,
// Upgrade or Pragma, and header lines net/http would take as they are: CRLF line ends, no
// folding, valid names and values. ok is false otherwise.
func parseHead(b []byte, path string, maxBody int64) (h head, ok bool) {
	n := headEnd(b)
	if n < 0 {
		return h, false
	}
	h.headLen = n
	// One string for the whole head: the target, names and values are slices of it.
	s := string(b[:n-2])
	line, rest, found := strings.Cut(s, "\r\n")
	if !found {
		return h, false
	}
	const method = "POST "
	const proto = " HTTP/1.1"
	if len(line) < len(method)+len(path)+len(proto) || line[:len(method)] != method ||
		line[len(line)-len(proto):] != proto {
		return h, false
	}
	target := line[len(method) : len(line)-len(proto)]
	if len(target) < len(path) || target[:len(path)] != path {
		return h, false
	}
	if q := target[len(path):]; q != "" {
		if q[0] != '?' || !plainQuery(q[1:]) {
			return h, false
		}
		h.query = q[1:]
		h.force = h.query == ""
	}
	h.uri = target
	// The header lines: count them first, so that the values share one backing array.
	lines := bytes.Count(b[len(line)+2:n-2], crlf)
	vals := make([]string, 0, lines)
	h.header = make(http.Header, lines)
	h.clen = -1
	hosts := 0
	for rest != "" {
		line, rest, found = strings.Cut(rest, "\r\n")
		if !found {
			return h, false
		}
		name, value, found := strings.Cut(line, ":")
		if !found || name == "" || !httpguts.ValidHeaderFieldName(name) {
			return h, false
		}
		value = strings.Trim(value, " \t") // optional whitespace, as net/textproto trims it
		if !httpguts.ValidHeaderFieldValue(value) {
			return h, false
		}
		key := textproto.CanonicalMIMEHeaderKey(name) // no allocation for a canonical name
		switch key {
		case "Host":
			hosts++
			if hosts > 1 || !httpguts.ValidHostHeader(value) {
				return h, false
			}
			h.host = value
			continue // net/http moves it to Request.Host
		case "Content-Length":
			if h.clen >= 0 {
				return h, false
			}
			if h.clen = parseLength(value); h.clen < 0 || h.clen > maxBody {
				return h, false
			}
		case "Transfer-Encoding", "Expect", "Upgrade", "Pragma", "Trailer":
			return h, false
		case "Connection":
			if httpguts.HeaderValuesContainsToken([]string{value}, "close") {
				h.close = true
			}
			if httpguts.HeaderValuesContainsToken([]string{value}, "upgrade") {
				return h, false
			}
		}
		vals = append(vals, value)
		v := vals[len(vals)-1 : len(vals) : len(vals)]
		if old, dup := h.header[key]; dup {
			v = append(old, value)
		}
		h.header[key] = v
	}
	if hosts != 1 || h.clen < 0 {
		return h, false
	}
	// net/http keeps the Connection header, and so does the lane.
	if conn := h.header["Connection"]; len(conn) > 1 {
		h.close = httpguts.HeaderValuesContainsToken(conn, "close")
	}
	return h, true
}

var crlf = []byte("\r\n")

// headEnd returns the length of the head at the start of b, its blank line included; -1
// when b does not hold a whole head (yet); bareLF when a line of it ends without CR
// (which net/http accepts and the lane leaves to it).
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j
		if i == 0 || b[i-1] != '\r' {
			return bareLF
		}
		if i >= 3 && b[i-2] == '\n' && b[i-3] == '\r' {
			return i + 1
		}
		i++
	}
}

// bareLF is headEnd's answer for a line ending without CR.
const bareLF = -2

// parseLength parses a Content-Length value as net/http does: decimal digits only; -1
// when it is not one (or would overflow).
func parseLength(s string) int64 {
	if s == "" || len(s) > 18 {
		return -1
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// plainQuery reports whether q is a query the lane takes as it is: visible ASCII only (a
// control byte, which net/url refuses, or anything unusual goes to net/http).
func plainQuery(q string) bool {
	for i := 0; i < len(q); i++ {
		if c := q[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return false
		}
	}
	return true
}
