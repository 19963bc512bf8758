package sse

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// normalizeBreaks turns every CRLF, CR and LF of data into LF: what the encoder's line
// splitting and the parser's joining make of line breaks.
func normalizeBreaks(data []byte) []byte {
	var out []byte
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c == '\r' {
			if i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
			c = '\n'
		}
		out = append(out, c)
	}
	return out
}

// FuzzRoundTrip checks the encoder and the parser against each other. For any name and id
// without CR, LF or NUL and any data, AppendID+AppendEvent then Reader yields exactly one
// event with the same id (HasID set), the same name and the same data except that each
// CRLF, CR and LF of data arrives as LF. Nothing in name, id or data can add a field
// (retry, comment) or a second event: a second frame after the first parses on its own.
// Names and ids keep leading spaces (the encoder writes "field: " and the parser strips
// exactly one space).
func FuzzRoundTrip(f *testing.F) {
	f.Add("progress", []byte(`{"pct":40}`), "k2x9q7ab-42")
	f.Add("", []byte(""), "")
	f.Add(" lead", []byte(" a\r\nb\rc\n"), " x")
	f.Add("message", []byte("x\n\nid: 9\nevent: evil\nretry: 1\n: c\ndata: y"), "e-1.2")
	f.Add("\xEF\xBB\xBF", []byte("\xEF\xBB\xBF\r"), "\xEF\xBB\xBF")
	f.Add(":", []byte(":\n:"), ":")
	f.Fuzz(func(t *testing.T, name string, data []byte, id string) {
		if strings.ContainsAny(name, "\r\n\x00") || strings.ContainsAny(id, "\r\n\x00") {
			t.Skip("the caller validates names and ids")
		}
		frame := AppendID(nil, []byte(id))
		frame = AppendEvent(frame, name, data)
		if n := len(frame) - len("id: \n") - len(id); n > EncodedLen(name, data) {
			t.Fatalf("EncodedLen(%q, %q) = %d < %d", name, data, EncodedLen(name, data), n)
		}
		second := AppendID(nil, []byte("next"))
		second = AppendEvent(second, "n", []byte("d"))
		stream := append(append([]byte{}, frame...), second...)

		want := result{
			Events: []Event{
				{ID: id, HasID: true, Name: name, Data: normalizeBreaks(data)},
				{ID: "next", HasID: true, Name: "n", Data: []byte("d")},
			},
			LastID: "next",
			Err:    io.EOF,
		}
		normalize(&want)
		for rname, src := range map[string]io.Reader{
			"whole":    bytes.NewReader(stream),
			"one byte": iotest.OneByteReader(bytes.NewReader(stream)),
		} {
			got := parseAll(src, 0, 0)
			normalize(&got)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: frame %q\n got %+v\nwant %+v", rname, frame, got, want)
			}
		}
	})
}

// FuzzParser feeds arbitrary bytes to a Reader and checks that it never panics, that its
// memory stays within its limits, that how the input is cut into reads does not matter,
// and that it agrees with refParse, a literal transcription of the WHATWG algorithm.
func FuzzParser(f *testing.F) {
	f.Add([]byte("id: 1\r\nevent: e\r\ndata: a\r\ndata: b\r\n\r\n"), uint8(3))
	f.Add([]byte("\xEF\xBB\xBFdata: x\r\rid: 2\x00\n\nretry: 12\nid\n\n: c\n"), uint8(1))
	f.Add([]byte("data: "+strings.Repeat("y", 200)+"\n\n"), uint8(7))
	f.Add([]byte("data\rdata:\r\n\r"), uint8(2))
	const maxLine, maxEvent = 128, 512
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		whole := parseAll(bytes.NewReader(in), maxLine, maxEvent)
		step := int(chunk)%16 + 1
		var cuts []int
		for i := step; i < len(in); i += step {
			cuts = append(cuts, i)
		}
		cut := parseAll(&splitReader{data: in, cuts: cuts}, maxLine, maxEvent)
		normalize(&whole)
		normalize(&cut)
		if !reflect.DeepEqual(whole, cut) {
			t.Fatalf("reads of %d bytes change the result:\nwhole %+v\n  cut %+v", step, whole, cut)
		}
		if errors.Is(whole.Err, ErrLineTooLong) || errors.Is(whole.Err, ErrEventTooLong) {
			return // the reference has no limits; agreement up to the error is checked by the cut run
		}
		ref := refParse(in)
		normalize(&ref)
		if !reflect.DeepEqual(whole, ref) {
			t.Fatalf("differs from the reference:\n got %+v\nwant %+v", whole, ref)
		}

		// Memory: the read buffer never grows past the line limit plus one read.
		r := NewReader(bytes.NewReader(in))
		r.SetLimits(maxLine, maxEvent)
		for {
			if _, err := r.Next(); err != nil {
				break
			}
			if cap(r.data) > 2*(maxEvent+maxLine) {
				t.Fatalf("data buffer grew to %d", cap(r.data))
			}
		}
		if len(r.buf) > maxLine+readChunk {
			t.Fatalf("read buffer grew to %d", len(r.buf))
		}
	})
}

// refParse is the WHATWG algorithm transcribed literally, on a whole input and without
// limits: the oracle of FuzzParser.
func refParse(in []byte) result {
	var res result
	s := string(in)
	s = strings.TrimPrefix(s, "\xEF\xBB\xBF")
	var lines []string
	complete := true
	for len(s) > 0 {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			complete = false // an unterminated last line is never processed
			break
		}
		lines = append(lines, s[:i])
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
	var data strings.Builder
	var eventType, idBuf string
	hasID, pending := false, false
	for _, line := range lines {
		if line == "" {
			res.LastID = idBuf
			pending = false
			if data.Len() == 0 {
				eventType, hasID = "", false
				continue
			}
			d := strings.TrimSuffix(data.String(), "\n")
			res.Events = append(res.Events, Event{ID: idBuf, HasID: hasID, Name: eventType, Data: []byte(d)})
			data.Reset()
			eventType, hasID = "", false
			continue
		}
		if line[0] == ':' {
			res.Comments = append(res.Comments, strings.TrimPrefix(line[1:], " "))
			continue
		}
		pending = true
		field, value, found := strings.Cut(line, ":")
		if found {
			value = strings.TrimPrefix(value, " ")
		}
		switch field {
		case "event":
			eventType = value
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
		case "id":
			if !strings.Contains(value, "\x00") {
				idBuf, hasID = value, true
			}
		case "retry":
			if d, ok := parseRetry([]byte(value)); ok {
				res.Retry, res.HasRetry = d, true
			}
		}
	}
	res.Err = io.EOF
	if pending || !complete {
		res.Err = io.ErrUnexpectedEOF
	}
	return res
}
