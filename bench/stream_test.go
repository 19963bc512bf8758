package bench

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/sse"
)

// recorder is an eventSink that keeps what it gets.
type recorder struct {
	seqs             []uint64
	resets, foreigns int
	reasons          []uint8
}

func (r *recorder) event(t int64, seq uint64) { r.seqs = append(r.seqs, seq) }
func (r *recorder) reset(reason uint8)        { r.resets++; r.reasons = append(r.reasons, reason) }
func (r *recorder) foreign()                  { r.foreigns++ }

// chunk frames p as one HTTP chunk.
func chunk(p string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(p), p) }

// sampleStream is a response as Herald sends it: head, then frames built by package sse.
func sampleStream(chunked bool) (string, string) {
	var body []string
	body = append(body, string(sse.AppendComment(nil, "ok"))+"retry: 2000\n\n")
	for i := 1; i <= 5; i++ {
		f := sse.AppendID(nil, fmt.Appendf(nil, "ep-%d", i))
		f = sse.AppendEvent(f, "", appendData(nil, time.Now().UnixNano(), uint64(i)))
		if i == 3 {
			f = append(f, sse.AppendComment(nil, "heartbeat")...)
			f = sse.AppendEvent(f, "reset", []byte(`{"reason":"expired"}`))
			f = sse.AppendEvent(f, "other", []byte("line one\nline two"))
		}
		body = append(body, string(f))
	}
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
	if !chunked {
		return head + "Connection: close\r\n\r\n" + strings.Join(body, ""), "ep-5"
	}
	var b strings.Builder
	b.WriteString(head + "Transfer-Encoding: chunked\r\n\r\n")
	for _, p := range body {
		b.WriteString(chunk(p))
	}
	b.WriteString("0\r\n\r\n")
	return b.String(), "ep-5"
}

// TestStreamSplits feeds a stream cut at every pair of places and checks every event,
// the reset and the foreign event come out once, with the right cursor.
func TestStreamSplits(t *testing.T) {
	for _, chunked := range []bool{true, false} {
		raw, lastID := sampleStream(chunked)
		for i := 0; i <= len(raw); i++ {
			for _, j := range []int{i, min(i+1, len(raw)), min(i+7, len(raw)), len(raw)} {
				var s stream
				var rec recorder
				var err error
				for _, part := range []string{raw[:i], raw[i:j], raw[j:]} {
					if err == nil && part != "" {
						err = s.feed([]byte(part), &rec)
					}
				}
				if chunked && err != errEnded || !chunked && err != nil {
					t.Fatalf("chunked=%v cut %d,%d: err %v", chunked, i, j, err)
				}
				if fmt.Sprint(rec.seqs) != "[1 2 3 4 5]" || rec.resets != 1 || rec.foreigns != 1 || rec.reasons[0] != resetExpired || string(s.lastID) != lastID {
					t.Fatalf("chunked=%v cut %d,%d: seqs %v resets %d foreign %d lastID %q",
						chunked, i, j, rec.seqs, rec.resets, rec.foreigns, s.lastID)
				}
			}
		}
	}
}

func TestStreamStatus(t *testing.T) {
	tests := []struct {
		head string
		want error
	}{
		{"HTTP/1.1 204 No Content\r\n\r\n", errEnded},
		{"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n{}", errStatus},
		{"SSH-2.0-OpenSSH\r\n\r\n", errProtocol},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", errProtocol},
	}
	for _, tt := range tests {
		var s stream
		if err := s.feed([]byte(tt.head), &recorder{}); err == nil || !strings.Contains(err.Error(), tt.want.Error()) {
			t.Errorf("%q: err %v, want %v", tt.head, err, tt.want)
		}
	}
}

// TestStreamNoAlloc checks that a steady stream costs no allocation per event.
func TestStreamNoAlloc(t *testing.T) {
	var frames []byte
	for i := 1; i <= 20; i++ {
		frames = sse.AppendID(frames, fmt.Appendf(nil, "ep-%d", i))
		frames = sse.AppendEvent(frames, "", appendData(nil, 1_700_000_000_000_000_000, uint64(i)))
	}
	payload := []byte(chunk(string(frames)))
	var s stream
	rec := &countSink{}
	if err := s.feed([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), rec); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(payload))
	allocs := testing.AllocsPerRun(100, func() {
		copy(buf, payload)
		if err := s.feed(buf, rec); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per read of 20 events, want 0", allocs)
	}
}

type countSink struct{ n int }

func (c *countSink) event(int64, uint64) { c.n++ }
func (c *countSink) reset(uint8)         {}
func (c *countSink) foreign()            {}

func BenchmarkStreamFeed(b *testing.B) {
	var frames []byte
	for i := 1; i <= 20; i++ {
		frames = sse.AppendID(frames, fmt.Appendf(nil, "k2x9q7ab-%d", 1000+i))
		frames = sse.AppendEvent(frames, "", appendData(nil, 1_700_000_000_000_000_000, uint64(i)))
	}
	payload := []byte(chunk(string(frames)))
	var s stream
	rec := &countSink{}
	_ = s.feed([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), rec)
	buf := make([]byte, len(payload))
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, payload)
		_ = s.feed(buf, rec)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*20), "ns/event")
}

func TestHistogram(t *testing.T) {
	if bucketOf(int64(maxLatency)) >= numBuckets {
		t.Fatalf("maxLatency falls outside the buckets")
	}
	for _, v := range []int64{0, 1, 31, 32, 33, 1000, 1 << 20, 123456789, int64(maxLatency)} {
		i := bucketOf(v)
		if v < bucketLow(i) || v > bucketHigh(i) {
			t.Errorf("%d in bucket %d [%d, %d]", v, i, bucketLow(i), bucketHigh(i))
		}
		if v >= 32 && float64(bucketHigh(i)-bucketLow(i)) > float64(v)/32 {
			t.Errorf("bucket %d of %d is too wide", i, v)
		}
	}
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	s := h.Snapshot()
	var merged Hist
	enc, _ := s.MarshalJSON()
	if err := merged.UnmarshalJSON(enc); err != nil {
		t.Fatal(err)
	}
	merged.Merge(s)
	if merged.Total() != 2000 || time.Duration(merged.Max) != time.Second {
		t.Fatalf("merged total %d max %v", merged.Total(), time.Duration(merged.Max))
	}
	for _, q := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := merged.Quantile(q.q)
		if d := got - q.want; d < 0 || d > q.want/30 {
			t.Errorf("q%v = %v, want %v (+3%%)", q.q, got, q.want)
		}
	}
	if !bytes.Contains(enc, []byte(`"max":1000000000`)) {
		t.Errorf("JSON %s lacks the max", enc)
	}
}
