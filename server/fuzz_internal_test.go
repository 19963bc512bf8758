package server

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/sse"
)

// FuzzPublishDecode feeds arbitrary bodies through the publish decoding: it never panics, and
// whatever it accepts becomes an event whose encoded frame parses back to exactly one event
// with the same name and data (nothing in a body can inject a field or a second event).
func FuzzPublishDecode(f *testing.F) {
	for _, s := range []string{
		`{"topic":"a","event":"e","data":{"k":1}}`,
		`{"topic":"a","data":{ "k" : [1, 2],
		"s":"x y"}}`,
		`{"topic":"a","data":"line1\nline2\r\nline3\rend"}`,
		`{"events":[{"topic":"a","data":"x"},{"topic":"b","data":[1,2]}]}`,
		`{"topic":"a","event":"x\ny","data":"z"}`,
		`{"topic":"a","data":"\n\nid: 9\nevent: evil\ndata: x\n\n"}`,
		`{"topic":"a b"}`, `{"topic":`, `[]`, `null`, `{"topic":"a","sent_time":1763780000000}`,
	} {
		f.Add([]byte(s))
	}
	s := &Server{cfg: Config{MaxMessageBytes: 1 << 16}}
	f.Fuzz(func(t *testing.T, body []byte) {
		var pb publishBody
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&pb); err != nil {
			return
		}
		items := pb.Events
		if items == nil {
			items = []publishItem{pb.publishItem}
		}
		for _, it := range items {
			m, perr := decodeItem(it, 0)
			if perr != nil || s.validate([]herald.Message{m}, origin{}) != nil {
				continue
			}
			// Data that is not a JSON string is sent compacted, whether or not it needed it.
			if raw := bytes.TrimSpace(it.Data); len(raw) > 0 && raw[0] != '"' && string(raw) != "null" {
				var c bytes.Buffer
				if err := json.Compact(&c, raw); err != nil || !bytes.Equal(c.Bytes(), m.Data) {
					t.Fatalf("data %q sent as %q, compact form %q (%v)", raw, m.Data, c.Bytes(), err)
				}
			}
			frame := sse.AppendEvent([]byte("id: x-1\n"), string(m.Name), m.Data)
			r := sse.NewReader(bytes.NewReader(frame))
			ev, err := r.Next()
			if err != nil {
				t.Fatalf("frame %q does not parse: %v", frame, err)
			}
			want := bytes.ReplaceAll(bytes.ReplaceAll(m.Data, []byte("\r\n"), []byte("\n")), []byte("\r"), []byte("\n"))
			if ev.Name != string(m.Name) || !bytes.Equal(ev.Data, want) || ev.ID != "x-1" {
				t.Fatalf("frame %q parsed as name %q data %q id %q", frame, ev.Name, ev.Data, ev.ID)
			}
			if _, err := r.Next(); err == nil {
				t.Fatalf("frame %q holds a second event", frame)
			}
		}
	})
}
