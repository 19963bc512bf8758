package bench

import (
	"strconv"
	"strings"
	"testing"
)

// TestSeqCheck feeds one subscriber's view of a topic ("3" is event 3, "R" a reset) and
// checks every class, and that unique + lost + skipped is what was published.
func TestSeqCheck(t *testing.T) {
	tests := []struct {
		name      string
		seen      string
		published uint64
		// unique, duplicated, gaps (lost inside), skipped, replayed; complete at the end
		unique, dup, gaps, skipped, replayed uint64
		complete                             bool
	}{
		{"in order", "1 2 3 4", 4, 4, 0, 0, 0, 0, true},
		{"missing tail", "1 2", 4, 2, 0, 0, 0, 0, false},
		{"gap", "1 2 5 6", 6, 4, 0, 2, 0, 0, true},
		{"duplicate", "1 2 2 3 1", 3, 3, 2, 0, 0, 0, true},
		{"duplicate after a gap", "1 4 3 5", 5, 3, 1, 2, 0, 0, true},
		{"reset skips ahead", "1 2 R 6 7", 7, 4, 0, 0, 3, 0, true},
		{"reset replays (false reset)", "1 2 3 R 3 4", 4, 4, 0, 0, 0, 1, true},
		{"reset replays from the start", "1 2 3 R 1 2 3 4", 4, 4, 0, 0, 0, 3, true},
		{"repeat after the reset's stretch began", "1 2 3 R 2 3 3 4", 4, 4, 1, 0, 0, 2, true},
		{"reset with nothing after it skips the rest", "1 2 R", 5, 2, 0, 0, 3, 0, true},
		{"gap after a reset is lost", "1 R 3 5", 5, 3, 0, 1, 1, 0, true},
		{"two resets", "1 R 4 R 2 3 4 5 R 9", 9, 4, 0, 0, 5, 3, true},
		{"reset at the very start", "R 3 4", 4, 2, 0, 0, 2, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c seqCheck
			c.start()
			for f := range strings.FieldsSeq(tt.seen) {
				if f == "R" {
					c.resetSeen()
					continue
				}
				n, err := strconv.ParseUint(f, 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				c.event(n)
			}
			complete := c.end(tt.published)
			got := [5]uint64{c.unique, c.dup, c.gaps, c.skipped, c.replayed}
			want := [5]uint64{tt.unique, tt.dup, tt.gaps, tt.skipped, tt.replayed}
			if got != want || complete != tt.complete {
				t.Fatalf("unique, dup, gaps, skipped, replayed = %v, complete %v; want %v, %v", got, complete, want, tt.complete)
			}
			if lost := tt.published - c.unique - c.skipped; complete && lost != c.gaps {
				t.Fatalf("published − unique − skipped = %d, but %d were lost inside", lost, c.gaps)
			}
		})
	}
}
