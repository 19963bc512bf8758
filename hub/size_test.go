package hub

// Size classes of the structs a node holds once per topic or per stream: a topic per stream
// (issue 17) multiplies them by the streams, so a field added to one must not push it into
// the next allocation size class unnoticed.

import (
	"testing"
	"unsafe"
)

// TestPerTopicStructSizes fails when a per-topic or per-stream struct of the hub outgrows
// its size class. Growing one on purpose: move the new field to topicSide if an idle topic
// does not need it, or raise the bound here and record the cost in docs/performance.md.
func TestPerTopicStructSizes(t *testing.T) {
	for _, c := range []struct {
		name      string
		size, max uintptr
	}{
		{"topic", unsafe.Sizeof(topic{}), 112},        // the 112-byte size class
		{"sub", unsafe.Sizeof(sub{}), 16},             // one per topic of a stream, in Conn.subs
		{"topicSide", unsafe.Sizeof(topicSide{}), 80}, // only while filling, waited for or followed
		{"Conn", unsafe.Sizeof(Conn{}), 320},          // one per stream: the 320-byte size class (576 before issue 18)
		{"sockConn", unsafe.Sizeof(sockConn{}), 112},  // one per hijacked stream (was the chunkedStream's 64)
	} {
		if c.size > c.max {
			t.Errorf("unsafe.Sizeof(%s{}) = %d bytes, want at most %d (its size class)", c.name, c.size, c.max)
		}
	}
}
