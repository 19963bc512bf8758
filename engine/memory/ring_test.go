package memory

import (
	"slices"
	"testing"

	"github.com/heraldpush/herald"
)

// TestRing drives a ring through growth, wrap-around, trimming by bound, dropping and
// compaction, comparing it with a plain slice model after every step.
func TestRing(t *testing.T) {
	type op struct {
		push int // push this many events (Seq counts on), or
		drop int // drop this many of the oldest, then compact
	}
	for _, c := range []struct {
		name string
		max  int
		ops  []op
	}{
		{"grow below bound", 100, []op{{push: 3}, {push: 20}}},
		{"trim at bound", 5, []op{{push: 12}}},
		{"bound below first capacity", 3, []op{{push: 10}}},
		{"wrap then grow", 64, []op{{push: 8}, {drop: 5}, {push: 10}}},
		{"shrink when sparse", 1000, []op{{push: 100}, {drop: 95}, {push: 3}}},
		{"shrink while wrapped", 32, []op{{push: 40}, {drop: 25}, {push: 2}}},
		{"empty releases memory", 10, []op{{push: 10}, {drop: 10}, {push: 1}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var (
				r     ring
				model []uint64
				seq   uint64
			)
			for _, o := range c.ops {
				for range o.push {
					seq++
					r.push(herald.Event{Position: herald.Position{Seq: seq}}, c.max)
					model = append(model, seq)
					if len(model) > c.max {
						model = model[1:]
					}
				}
				for range o.drop {
					r.dropOldest()
					model = model[1:]
				}
				if o.drop > 0 {
					r.compact()
				}
				var got []uint64
				for i := range r.len() {
					got = append(got, r.at(i).Seq)
				}
				if !slices.Equal(got, model) {
					t.Fatalf("after %+v: ring holds %v, want %v", o, got, model)
				}
				if len(r.buf) > max(c.max, minRingCap) {
					t.Fatalf("capacity %d exceeds bound %d", len(r.buf), c.max)
				}
				if r.len() == 0 && r.buf != nil {
					t.Fatalf("empty ring keeps %d slots", len(r.buf))
				}
				if o := r.oldest(); (o == nil) != (len(model) == 0) || (o != nil && o.Seq != model[0]) {
					t.Fatalf("oldest = %v, want %v", o, model)
				}
			}
		})
	}
}
