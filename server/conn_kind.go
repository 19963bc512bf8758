package server

// Telling connections apart by their first bytes: the HTTP/2 client preface goes to
// Herald's HTTP/2 engine (internal/h2conn), a first request line "POST /v1/publish " or
// "POST /v1/publish?" to the HTTP/1.1 publish lane (internal/h1conn), anything else to the
// standard server.

import (
	"bytes"

	"golang.org/x/net/http2"
)

// connKind is the server a connection goes to.
type connKind uint8

const (
	kindStd     connKind = iota // net/http
	kindH2                      // h2conn: the HTTP/2 client preface
	kindPublish                 // h1conn: POST /v1/publish
)

// publishLine is how a request line the lane takes begins; one more byte (' ' or '?')
// ends the path.
const publishLine = "POST " + publishPath

// publishPath is the one path the lane serves.
const publishPath = "/v1/publish"

// peekLen is how many bytes are enough to tell.
const peekLen = max(len(http2.ClientPreface), len(publishLine)+1)

// classify tells a connection's kind from its first bytes b; decided is false while b is
// too short to tell.
func classify(b []byte) (kind connKind, decided bool, err error) {
	preface := []byte(http2.ClientPreface)
	if len(b) >= len(preface) && bytes.Equal(b[:len(preface)], preface) {
		return kindH2, true, nil
	}
	if len(b) < len(preface) && bytes.HasPrefix(preface, b) {
		return kindStd, false, nil // a prefix of the preface: wait for the rest
	}
	if len(b) >= 4 && string(b[:4]) == "PRI " {
		return kindStd, true, errBadPreface
	}
	if len(b) > len(publishLine) {
		if string(b[:len(publishLine)]) == publishLine && (b[len(publishLine)] == ' ' || b[len(publishLine)] == '?') {
			return kindPublish, true, nil
		}
		return kindStd, true, nil
	}
	if bytes.HasPrefix([]byte(publishLine), b) {
		return kindStd, false, nil // may still be a publish: wait
	}
	return kindStd, true, nil
}
