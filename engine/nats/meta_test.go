package natsengine

import (
	"strconv"
	"strings"
	"testing"

	"github.com/heraldpush/herald"
)

func TestMetaRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		epoch string
		prev  uint64
		time  int64
		sent  int64
		final bool
		ev    string
	}{
		{"plain", "mh5k2x9q0abcd1234", 41, 1763790000123456789, 1763790000000000000, false, "progress"},
		{"no name, no sent time, final", "e", 0, 1, 0, true, ""},
		{"spaces in and around the name", "e1", 7, 2, 3, false, "  step one  "},
		{"semicolons and tabs", "e2", 18446744073709551615, 9, 9, true, ";\tx; ;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := metaValue(tc.epoch, strconv.FormatUint(tc.prev, 10), metaTail(tc.time, tc.sent, tc.final, herald.EventName(tc.ev)))
			// Header parsing trims the value, as a NATS client does.
			md, ok := parseMeta(strings.TrimSpace(v))
			if !ok {
				t.Fatalf("parseMeta(%q) failed", v)
			}
			want := meta{epoch: tc.epoch, prev: tc.prev, time: tc.time, sent: tc.sent, final: tc.final, name: herald.EventName(tc.ev)}
			if md != want {
				t.Fatalf("parseMeta(%q) = %+v, want %+v", v, md, want)
			}
		})
	}
	for _, bad := range []string{"", "2 e 1 2 3 0 x;", "1 e 1 2 3 0 x", "1 e x 2 3 0 ;", "1 e 1 2 3 2 ;", "1 e 1 2 3"} {
		if md, ok := parseMeta(bad); ok {
			t.Errorf("parseMeta(%q) = %+v, want a failure", bad, md)
		}
	}
}
