package epoch

import (
	"regexp"
	"testing"

	"github.com/heraldpush/herald"
)

func TestEpoch(t *testing.T) {
	valid := regexp.MustCompile(`^[0-9a-z]{8}$`)
	seen := map[string]bool{}
	for range 1000 {
		ep := New()
		if !valid.MatchString(ep) || !herald.ValidEpoch(ep) {
			t.Fatalf("epoch %q is not [0-9a-z]{8}", ep)
		}
		if seen[ep] {
			t.Fatalf("epoch %q repeated", ep)
		}
		seen[ep] = true
	}
}
