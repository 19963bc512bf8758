package hub

// Frames: an event encoded once as SSE bytes (its "id:" line, then the body) and shared by
// every connection it is queued on; resets and heartbeats.

import (
	"encoding/json"
	"strconv"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/sse"
)

type frameKind uint8

const (
	kindEvent     frameKind = iota // a published event
	kindReset                      // an "event: reset" that moves the topic's position
	kindHeartbeat                  // a comment or heartbeat event; no position
)

// frame is one SSE frame, encoded once per event and shared by every connection it is
// queued on. buf holds the frame as a single-topic stream sends it: its "id:" line (the
// event's own position) and then the body from bodyOff on. A multi-topic stream writes its
// own composite cursor as the id and then buf[bodyOff:].
type frame struct {
	buf     []byte
	bodyOff int
	pos     herald.Position
	origin  int64 // latency origin: publisher's send time, else engine acceptance time
	kind    frameKind
	final   bool
}

// newEventFrame encodes ev. One allocation for the bytes, one for the frame.
func newEventFrame(ev *herald.Event) *frame {
	n := len("id: \n") + len(ev.Epoch) + 20 + sse.EncodedLen(string(ev.Name), ev.Data)
	buf := appendPositionID(make([]byte, 0, n), ev.Position)
	f := &frame{bodyOff: len(buf), pos: ev.Position, kind: kindEvent, final: ev.Final}
	f.buf = sse.AppendEvent(buf, string(ev.Name), ev.Data)
	f.origin = ev.Time
	if ev.SentTime > 0 && ev.SentTime <= ev.Time {
		f.origin = ev.SentTime
	}
	return f
}

// appendPositionID appends the "id:" line of one position. Every "id:" line the hub writes
// goes through it or Conn.appendID (a stream's composite cursor).
func appendPositionID(b []byte, pos herald.Position) []byte {
	b = herald.AppendPosition(sse.AppendIDPrefix(b), pos)
	return append(b, '\n')
}

// resetData is the JSON data of an "event: reset".
type resetData struct {
	Reason ResetReason    `json:"reason"`
	Topics []herald.Topic `json:"topics"`
}

// appendResetBody appends the body (after the id line) of a reset event.
func appendResetBody(b []byte, reason ResetReason, topics []herald.Topic) []byte {
	data, _ := json.Marshal(resetData{Reason: reason, Topics: topics})
	return sse.AppendEvent(b, herald.ResetEventName, data)
}

// newResetFrame builds a reset frame for one topic that moves its position to pos.
func newResetFrame(t herald.Topic, reason ResetReason, pos herald.Position) *frame {
	buf := appendPositionID(nil, pos)
	f := &frame{bodyOff: len(buf), pos: pos, kind: kindReset}
	f.buf = appendResetBody(buf, reason, []herald.Topic{t})
	return f
}

// newHeartbeatFrame builds the heartbeat: a comment, or a named event whose data is the time
// when event is set (for clients whose watchdog only sees events).
func newHeartbeatFrame(event string, now int64) *frame {
	f := &frame{kind: kindHeartbeat}
	if event == "" {
		f.buf = []byte(":\n\n")
		return f
	}
	data := strconv.AppendInt([]byte(`{"time":`), now/1e6, 10)
	data = append(data, '}')
	f.buf = sse.AppendEvent(nil, event, data)
	return f
}
