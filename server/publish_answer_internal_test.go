package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/heraldpush/herald"
)

// TestWritePublishAnswer checks that the hand-written single-event answer is byte for byte,
// header for header, what writeJSON writes for the same publishAnswer, including ids that
// need escaping (which take writeJSON's path).
func TestWritePublishAnswer(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		epoch  string
		seq    uint64
		online []bool
	}{
		{"k3x9a", 1, nil},
		{"k3x9a", 18446744073709551615, []bool{true}},
		{"0", 0, []bool{false}},
		{"", 7, []bool{true, false}},
		{"a<b>&c", 2, []bool{true}},
		{`q"uo\te`, 3, nil},
		{"ü\x01\x7f", 4, []bool{false}},
	} {
		t.Run(fmt.Sprintf("%q-%d-%v", tc.epoch, tc.seq, tc.online), func(t *testing.T) {
			ev := herald.Event{Position: herald.Position{Epoch: tc.epoch, Seq: tc.seq}}
			got := httptest.NewRecorder()
			writePublishAnswer(got, &ev, tc.online)
			a := publishAnswer{ID: ev.ID()}
			if len(tc.online) > 0 {
				a.Online = &no
				if tc.online[0] {
					a.Online = &yes
				}
			}
			want := httptest.NewRecorder()
			writeJSON(want, http.StatusOK, a)
			if got.Code != want.Code || got.Body.String() != want.Body.String() {
				t.Fatalf("answer %d %q, writeJSON %d %q", got.Code, got.Body, want.Code, want.Body)
			}
			if fmt.Sprint(got.Header()) != fmt.Sprint(want.Header()) {
				t.Fatalf("headers %v, writeJSON %v", got.Header(), want.Header())
			}
		})
	}
}
