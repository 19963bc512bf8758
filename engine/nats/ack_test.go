package natsengine

import (
	"encoding/json"
	"testing"
)

// ackSeeds are acknowledgements as nats-server sends them, and near misses.
var ackSeeds = []string{
	`{"stream":"herald_1000_3600000","seq":42}`,
	`{"stream":"herald_1000_3600000","seq":7,"duplicate":true}`,
	`{"stream":"s","domain":"hub","seq":18446744073709551615}`,
	`{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"},"stream":"s","seq":0}`,
	`{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}`,
	`{"stream":"s","seq":1,"extra":{"a":1}}`,
	`{"stream":"s\"x","seq":1}`,
	`{"stream":"s","seq":-1}`,
	`{"stream":"","seq":1}`,
	`{"stream":"s"}`,
	`{"seq":1}`,
	` {"stream":"s","seq":3} `,
	`{"stream":"s","seq":3,}`,
	`{"stream":"s","seq":3,"duplicate":1}`,
	`{"stream":"a,b","seq":2}`,
	`not json`,
	``,
	`{"stream":"herald_1000_3600000", "seq":9}`, // as nats-server 2.9 writes it
	`{ "stream":"s",  "seq":9 , "duplicate":true}`,
}

func TestParseAck(t *testing.T) {
	for _, tc := range []struct {
		in      string
		fast    bool // the scanner answers it (no encoding/json)
		seq     uint64
		dup     bool
		errCode int // JetStream error code expected, 0 for none
		bad     bool
	}{
		{in: ackSeeds[0], fast: true, seq: 42},
		{in: ackSeeds[1], fast: true, seq: 7, dup: true},
		{in: ackSeeds[2], fast: true, seq: 18446744073709551615},
		{in: ackSeeds[3], errCode: 10071},
		{in: ackSeeds[4], errCode: 10077},
		{in: ackSeeds[5], seq: 1},
		{in: ackSeeds[11], fast: true, seq: 3},
		{in: ackSeeds[14], fast: true, seq: 2},
		{in: `not json`, bad: true},
		{in: ackSeeds[17], fast: true, seq: 9},
		{in: ackSeeds[18], seq: 9, dup: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if _, fast := scanAck([]byte(tc.in)); fast != tc.fast {
				t.Errorf("fast path taken = %v, want %v", fast, tc.fast)
			}
			ack, err := parseAck([]byte(tc.in))
			if tc.bad {
				if err == nil {
					t.Fatalf("parsed %q without error", tc.in)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.errCode != 0 {
				if ack.Error == nil || int(ack.Error.ErrorCode) != tc.errCode {
					t.Fatalf("error = %v, want code %d", ack.Error, tc.errCode)
				}
				return
			}
			if ack.Error != nil || ack.Sequence != tc.seq || ack.Duplicate != tc.dup || ack.Stream == "" {
				t.Fatalf("got %+v, want seq %d duplicate %v", ack, tc.seq, tc.dup)
			}
		})
	}
}

// FuzzScanAck checks that the fast path never disagrees with encoding/json: whatever it
// accepts, encoding/json decodes to the same acknowledgement.
func FuzzScanAck(f *testing.F) {
	for _, s := range ackSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := scanAck(data)
		if !ok {
			return
		}
		var want pubAckReply
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("scanAck accepted %q, encoding/json refuses it: %v", data, err)
		}
		if want.Error != nil || fast.Stream != want.Stream || fast.Sequence != want.Sequence || fast.Duplicate != want.Duplicate {
			t.Fatalf("scanAck(%q) = %+v, encoding/json %+v", data, fast, want)
		}
	})
}
