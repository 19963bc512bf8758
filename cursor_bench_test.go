package herald

import "testing"

// The cursor is parsed once per stream request (Last-Event-ID) and appended once per event
// written to a multi-topic stream (its id line), so AppendCursor is on the delivery path.

var benchCursors = []struct {
	name string
	text string
}{
	{"1topic", "k2x9q7abcdefghij-42"},
	{"4topics_shared_epoch", "k2x9q7abcdefghij-42.7.19.1234567"},
	{"4topics", "k2x9q7abcdefghij-42.m3n4p5q6abcdefgh-7.a1b2c3d4e5f6g7h8-19.zz9yy8xx7ww6vv5u-1234567"},
}

func BenchmarkParseCursor(b *testing.B) {
	for _, bc := range benchCursors {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseCursor(bc.text); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendCursor(b *testing.B) {
	for _, bc := range benchCursors {
		c, err := ParseCursor(bc.text)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, 0, 256)
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendCursor(buf[:0], c)
			}
			if string(buf) != bc.text {
				b.Fatalf("round trip %q -> %q", bc.text, buf)
			}
		})
	}
}
