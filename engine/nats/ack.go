package natsengine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
)

// decodeAck reads the reply to a pipelined publish (see acks.go): the acknowledgement, whose
// Error the caller judges, or why there is none — the reply was lost (r.err), no stream
// captures the subject (jetstream.ErrNoStreamResponse: nothing was stored), or the reply is
// not an acknowledgement (jetstream.ErrInvalidJSAck).
func decodeAck(r ackReply) (pubAckReply, error) {
	if r.err != nil {
		return pubAckReply{}, r.err
	}
	if len(r.msg.Data) == 0 && r.msg.Header.Get("Status") == "503" {
		return pubAckReply{}, jetstream.ErrNoStreamResponse
	}
	ack, err := parseAck(r.msg.Data)
	switch {
	case err != nil:
		return ack, fmt.Errorf("%w: %w", jetstream.ErrInvalidJSAck, err)
	case ack.Error == nil && ack.Stream == "":
		return ack, jetstream.ErrInvalidJSAck
	}
	return ack, nil
}

// parseAck decodes JetStream's answer to a publish. The answer to nearly every publish,
// {"stream":"<name>","seq":<n>} (with "domain" and "duplicate":true where they apply), is
// scanned without encoding/json, which would cost a decoder and its reflection per event on
// the hot path; anything else, errors in particular, goes through encoding/json.
func parseAck(data []byte) (pubAckReply, error) {
	if ack, ok := scanAck(data); ok {
		return ack, nil
	}
	var ack pubAckReply
	err := json.Unmarshal(data, &ack)
	return ack, err
}

// scanAck is parseAck's fast path. It accepts only a flat object of the keys stream, domain,
// seq and duplicate with plain values, and reports false for anything else.
func scanAck(data []byte) (pubAckReply, bool) {
	var ack pubAckReply
	data = bytes.TrimSpace(data)
	if len(data) < 2 || data[0] != '{' || data[len(data)-1] != '}' {
		return ack, false
	}
	rest := trimSpaceLeft(data[1 : len(data)-1])
	seenSeq := false
	for len(rest) > 0 {
		key, val, ok := scanMember(rest)
		if !ok {
			return ack, false
		}
		rest = rest[len(key)+len(val)+3:] // "key":val
		switch string(key) {
		case "stream", "domain":
			if len(val) < 2 || val[0] != '"' || val[len(val)-1] != '"' || !plainName(val[1:len(val)-1]) {
				return ack, false
			}
			if key[0] == 's' {
				ack.Stream = string(val[1 : len(val)-1])
			}
		case "seq":
			n, err := strconv.ParseUint(string(val), 10, 64)
			if err != nil {
				return ack, false
			}
			ack.Sequence, seenSeq = n, true
		case "duplicate":
			switch string(val) {
			case "true":
				ack.Duplicate = true
			case "false":
			default:
				return ack, false
			}
		default:
			return ack, false
		}
		if len(rest) > 0 {
			if rest[0] != ',' {
				return ack, false
			}
			rest = trimSpaceLeft(rest[1:]) // nats-server writes `, "seq":`
			if len(rest) == 0 {
				return ack, false
			}
		}
	}
	return ack, seenSeq && ack.Stream != ""
}

// scanMember splits `"key":value…` at the start of b, where value runs to the next comma
// outside a string (or to the end). It reports false for keys with escapes and values
// that are objects or arrays.
func scanMember(b []byte) (key, val []byte, ok bool) {
	if len(b) < 4 || b[0] != '"' {
		return nil, nil, false
	}
	end := bytes.IndexByte(b[1:], '"')
	if end < 0 || len(b) < end+3 || b[end+2] != ':' {
		return nil, nil, false
	}
	key = b[1 : end+1]
	if bytes.IndexByte(key, '\\') >= 0 {
		return nil, nil, false
	}
	v := b[end+3:]
	n := len(v)
	if len(v) > 0 && v[0] == '"' {
		q := bytes.IndexByte(v[1:], '"')
		if q < 0 {
			return nil, nil, false
		}
		n = q + 2
	} else if c := bytes.IndexByte(v, ','); c >= 0 {
		n = c
	}
	val = v[:n]
	if len(val) == 0 || bytes.ContainsAny(val, "{}[]") {
		return nil, nil, false
	}
	return key, val, true
}

// plainName reports whether b holds only printable ASCII other than quote and backslash, as
// stream and domain names do, so that its JSON string decodes to the bytes themselves.
func plainName(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// trimSpaceLeft drops JSON whitespace at the start of b.
func trimSpaceLeft(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}
