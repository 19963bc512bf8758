package sse

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// result is everything a Reader reports about a whole stream.
type result struct {
	Events   []Event
	Comments []string
	LastID   string
	Retry    time.Duration
	HasRetry bool
	Err      error // the final error: io.EOF, io.ErrUnexpectedEOF or a limit
}

// parseAll reads src to its end with a Reader, copying every event.
func parseAll(src io.Reader, maxLine, maxEvent int) result {
	var res result
	r := NewReader(src)
	r.SetLimits(maxLine, maxEvent)
	r.OnComment(func(text []byte) { res.Comments = append(res.Comments, string(text)) })
	for {
		ev, err := r.Next()
		if err != nil {
			res.Err = err
			break
		}
		ev.Data = append([]byte{}, ev.Data...)
		res.Events = append(res.Events, ev)
	}
	res.LastID = r.LastEventID()
	res.Retry, res.HasRetry = r.Retry()
	return res
}

// splitReader returns the input in reads cut at the given offsets.
type splitReader struct {
	data []byte
	cuts []int
	off  int
}

func (s *splitReader) Read(p []byte) (int, error) {
	if s.off >= len(s.data) {
		return 0, io.EOF
	}
	end := len(s.data)
	for len(s.cuts) > 0 && s.cuts[0] <= s.off {
		s.cuts = s.cuts[1:]
	}
	if len(s.cuts) > 0 {
		end = s.cuts[0]
	}
	n := copy(p, s.data[s.off:end])
	s.off += n
	return n, nil
}

func ev(id string, hasID bool, name, data string) Event {
	return Event{ID: id, HasID: hasID, Name: name, Data: []byte(data)}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want result
	}{
		{name: "empty", in: "", want: result{Err: io.EOF}},
		{name: "one event", in: "data: hi\n\n", want: result{Events: []Event{ev("", false, "", "hi")}, Err: io.EOF}},
		{name: "CRLF", in: "id: 1\r\nevent: e\r\ndata: a\r\ndata: b\r\n\r\n",
			want: result{Events: []Event{ev("1", true, "e", "a\nb")}, LastID: "1", Err: io.EOF}},
		{name: "CR", in: "id: 1\revent: e\rdata: a\rdata: b\r\r",
			want: result{Events: []Event{ev("1", true, "e", "a\nb")}, LastID: "1", Err: io.EOF}},
		{name: "mixed line ends", in: "data: a\r\ndata: b\rdata: c\n\r\n",
			want: result{Events: []Event{ev("", false, "", "a\nb\nc")}, Err: io.EOF}},
		{name: "LF CR is two line ends", in: "data: a\n\rdata: b\n\n",
			want: result{Events: []Event{ev("", false, "", "a"), ev("", false, "", "b")}, Err: io.EOF}},
		{name: "BOM skipped", in: "\xEF\xBB\xBFdata: x\n\n", want: result{Events: []Event{ev("", false, "", "x")}, Err: io.EOF}},
		{name: "second BOM not skipped", in: "\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\ndata: y\n\n",
			want: result{Events: []Event{ev("", false, "", "y")}, Err: io.EOF}},
		{name: "only one space stripped", in: "data:  x\nevent:e\n\n", want: result{Events: []Event{ev("", false, "e", " x")}, Err: io.EOF}},
		{name: "no colon is empty value", in: "data\ndata\n\n", want: result{Events: []Event{ev("", false, "", "\n")}, Err: io.EOF}},
		{name: "empty data line dispatches", in: "data:\n\n", want: result{Events: []Event{ev("", false, "", "")}, Err: io.EOF}},
		{name: "no data, no dispatch", in: "event: e\n\ndata: x\n\n", want: result{Events: []Event{ev("", false, "", "x")}, Err: io.EOF}},
		{name: "comments", in: ": hello\n:\n:  two\ndata: x\n\n",
			want: result{Events: []Event{ev("", false, "", "x")}, Comments: []string{"hello", "", " two"}, Err: io.EOF}},
		{name: "id only block sets last id", in: ": hi\nretry: 2000\n\nid: k-5\n\n",
			want: result{LastID: "k-5", Retry: 2 * time.Second, HasRetry: true, Comments: []string{"hi"}, Err: io.EOF}},
		{name: "id carried over", in: "id: 1\ndata: a\n\ndata: b\n\n",
			want: result{Events: []Event{ev("1", true, "", "a"), ev("1", false, "", "b")}, LastID: "1", Err: io.EOF}},
		{name: "empty id resets", in: "id: 1\ndata: a\n\nid\ndata: b\n\n",
			want: result{Events: []Event{ev("1", true, "", "a"), ev("", true, "", "b")}, Err: io.EOF}},
		{name: "id with NUL ignored", in: "id: 1\n\nid: 2\x003\ndata: a\n\n",
			want: result{Events: []Event{ev("1", false, "", "a")}, LastID: "1", Err: io.EOF}},
		{name: "id of unfinished block discarded", in: "id: 1\n\nid: 2\ndata: x\n",
			want: result{LastID: "1", Err: io.ErrUnexpectedEOF}},
		{name: "no dispatch at EOF", in: "data: x", want: result{Err: io.ErrUnexpectedEOF}},
		{name: "retry digits only", in: "retry: 1500\n\nretry: 15x\n\nretry: -1\n\nretry:\n\nretry: 1.5\n\n",
			want: result{Retry: 1500 * time.Millisecond, HasRetry: true, Err: io.EOF}},
		{name: "retry huge saturates", in: "retry: 99999999999999999999999999\n\n",
			want: result{Retry: time.Duration(1<<63-1) / time.Millisecond * time.Millisecond, HasRetry: true, Err: io.EOF}},
		{name: "unknown fields ignored", in: "foo: bar\nData: x\nid : 3\ndata: y\n\n",
			want: result{Events: []Event{ev("", false, "", "y")}, Err: io.EOF}},
		{name: "event name reset per block", in: "event: a\ndata: 1\n\ndata: 2\n\n",
			want: result{Events: []Event{ev("", false, "a", "1"), ev("", false, "", "2")}, Err: io.EOF}},
		{name: "value keeps colons", in: "data: a: b\n\n", want: result{Events: []Event{ev("", false, "", "a: b")}, Err: io.EOF}},
		{name: "line too long", in: "data: " + strings.Repeat("x", 100) + "\n\n", want: result{Err: ErrLineTooLong}},
		{name: "event too long", in: strings.Repeat("data: "+strings.Repeat("x", 40)+"\n", 10) + "\n", want: result{Err: ErrEventTooLong}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			readers := map[string]func() io.Reader{
				"whole":    func() io.Reader { return strings.NewReader(tt.in) },
				"one byte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(tt.in)) },
				"data err": func() io.Reader { return iotest.DataErrReader(strings.NewReader(tt.in)) },
			}
			for i := 1; i < len(tt.in); i++ {
				readers["cut "+strconv.Itoa(i)] = func() io.Reader { return &splitReader{data: []byte(tt.in), cuts: []int{i}} }
			}
			for rname, mk := range readers {
				got := parseAll(mk(), 64, 256)
				if !errors.Is(got.Err, tt.want.Err) {
					t.Fatalf("%s: error %v, want %v", rname, got.Err, tt.want.Err)
				}
				got.Err = tt.want.Err
				normalize(&got)
				want := tt.want
				normalize(&want)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s:\n got %+v\nwant %+v", rname, got, want)
				}
			}
		})
	}
}

// normalize makes results comparable with reflect.DeepEqual (nil and empty slices).
func normalize(r *result) {
	if len(r.Events) == 0 {
		r.Events = nil
	}
	for i := range r.Events {
		if len(r.Events[i].Data) == 0 {
			r.Events[i].Data = []byte{}
		}
	}
	if len(r.Comments) == 0 {
		r.Comments = nil
	}
}

func TestReaderCRThenLFAcrossReads(t *testing.T) {
	// The CR ends the line at once: the event is dispatched before the LF arrives.
	pr, pw := io.Pipe()
	r := NewReader(pr)
	go func() {
		pw.Write([]byte("data: x\r\r"))
		// Only written after the first event was read, so a Reader waiting for it would hang.
	}()
	e, err := r.Next()
	if err != nil || string(e.Data) != "x" {
		t.Fatalf("Next = %q, %v", e.Data, err)
	}
	go func() {
		pw.Write([]byte("\ndata: y\n\n"))
		pw.Close()
	}()
	e, err = r.Next()
	if err != nil || string(e.Data) != "y" {
		t.Fatalf("Next = %q, %v; the LF after CR must be part of the previous line end", e.Data, err)
	}
}

func TestReaderLongLineWithinLimit(t *testing.T) {
	big := strings.Repeat("x", 3*readChunk+17)
	in := "data: " + big + "\r\n\r\n"
	got := parseAll(iotest.HalfReader(strings.NewReader(in)), 0, 0)
	if got.Err != io.EOF || len(got.Events) != 1 || string(got.Events[0].Data) != big {
		t.Fatalf("got %d events, err %v", len(got.Events), got.Err)
	}
}

func TestReaderNoAllocsPerEvent(t *testing.T) {
	frame := []byte("id: k-1\nevent: progress\ndata: {\"pct\":40}\n\n")
	stream := bytes.Repeat(frame, 1000)
	src := bytes.NewReader(stream)
	r := NewReader(src)
	// Warm the buffers.
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(500, func() {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Fatalf("%v allocations per event with a repeating id and name, want 0", allocs)
	}
}

func BenchmarkReader(b *testing.B) {
	var stream []byte
	for i := range 1000 {
		stream = AppendID(stream, []byte("k2x9q7ab-"+strconv.Itoa(i)))
		stream = AppendEvent(stream, "progress", []byte(`{"step":"vision","pct":40,"detail":"scanning the image"}`))
	}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	src := bytes.NewReader(stream)
	for b.Loop() {
		src.Reset(stream)
		r := NewReader(src)
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
}

func TestSplitField(t *testing.T) {
	for _, tc := range []struct{ line, name, value string }{
		{"data: x", "data", "x"},
		{"data:x", "data", "x"},
		{"data:  two spaces", "data", " two spaces"},
		{"data", "data", ""},
		{"id: a:b", "id", "a:b"},
		{"event:", "event", ""},
	} {
		name, value := SplitField([]byte(tc.line))
		if string(name) != tc.name || string(value) != tc.value {
			t.Errorf("SplitField(%q) = %q, %q; want %q, %q", tc.line, name, value, tc.name, tc.value)
		}
	}
}
