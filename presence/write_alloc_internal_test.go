package presence

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/engine/memory"
)

// TestHeartbeatWriteReusesMaps: once every share has been written, a heartbeat's rewrite of
// unchanged topics makes no per-topic garbage (the memory store rewrites shares in place,
// and the writer reuses its maps), so an idle node's heap does not cycle to its GC goal.
func TestHeartbeatWriteReusesMaps(t *testing.T) {
	const topics = 2000
	tr, err := New(Options{Store: memory.New(memory.Options{}).Presence(), Heartbeat: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range topics {
		tr.Join(fmt.Sprintf("user%d", i), []herald.Topic{herald.Topic(fmt.Sprintf("t:%d", i))})
	}
	tr.write(-1) // the joins
	for slot := range heartbeatSlots {
		tr.write(slot) // every share once, as the writer does over one heartbeat
	}
	slot := 0
	allocs := testing.AllocsPerRun(50, func() {
		tr.write(slot)
		slot = (slot + 1) % heartbeatSlots
	})
	// Each write rewrites ~topics/heartbeatSlots (200) shares; what is left is per write
	// (its context), not per topic.
	if allocs > 10 {
		t.Fatalf("a heartbeat write of ~%d unchanged shares made %.0f allocations, want ≤ 10", topics/heartbeatSlots, allocs)
	}
	tp, err := tr.Topic(t.Context(), "t:7")
	if err != nil || tp.Connections != 1 || tp.Users["user7"] != 1 {
		t.Fatalf("t:7 after the rewrites: %+v, %v", tp, err)
	}
}
