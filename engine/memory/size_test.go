package memory

// The size class of the engine's per-topic struct: a node with a topic per stream holds one
// per stream (issue 17), so a field added to it must not push it into the next size class
// unnoticed.

import (
	"testing"
	"unsafe"

	"github.com/heraldpush/herald"
)

// TestTopicSize fails when the engine's topic or presence share outgrows its size class. Growing it on
// purpose: raise the bound and record the cost in docs/performance.md.
func TestTopicSize(t *testing.T) {
	for _, c := range []struct {
		name      string
		size, max uintptr
	}{
		{"topic", unsafe.Sizeof(topic{}), 96},
		{"topicShare", unsafe.Sizeof(topicShare{}), 48}, // one per topic and node in the presence store
	} {
		if c.size > c.max {
			t.Errorf("unsafe.Sizeof(%s{}) = %d bytes, want at most %d (its size class)", c.name, c.size, c.max)
		}
	}
}

// A retention size beyond what the ring can count is held at the ring's bound.
func TestTopicRetentionSizeBounded(t *testing.T) {
	tp := newTopicState("t", herald.Retention{Size: maxRingSize + 10, TTL: -1})
	if tp.size != maxRingSize || tp.ttl != -1 {
		t.Fatalf("size %d ttl %v, want %d and -1", tp.size, tp.ttl, maxRingSize)
	}
}
