package herald

import (
	"fmt"
	"strconv"
)

// MaxEventNameLen is the longest event name in bytes.
const MaxEventNameLen = 255

// ResetEventName is the event name Herald itself sends when a cursor cannot be resumed
// exactly; publishers may not use it.
const ResetEventName = "reset"

// EventName is a validated SSE event name: at most 255 bytes, no CR, LF or NUL, so it can
// never break SSE framing. The empty name means "no event: line" (a "message" event in the
// browser).
type EventName string

// ParseEventName validates s as an event name.
func ParseEventName(s string) (EventName, error) {
	if len(s) > MaxEventNameLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidEventName, MaxEventNameLen)
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\r', '\n', 0:
			return "", fmt.Errorf("%w: contains CR, LF or NUL at byte %d", ErrInvalidEventName, i)
		}
	}
	if s == ResetEventName {
		return "", fmt.Errorf("%w: %q is reserved for Herald", ErrInvalidEventName, s)
	}
	return EventName(s), nil
}

// Message is what a publisher hands to an engine: an event before it has a position.
type Message struct {
	Topic Topic
	Name  EventName
	// Data is the text sent in the event's data: lines (any bytes; newlines are split into
	// several data: lines by the encoder).
	Data []byte
	// Final closes the topic: no later publish is accepted and subscribers' streams end.
	Final bool
	// SentTime is the publisher's own send time in Unix nanoseconds, or 0. It feeds the
	// publish→delivery latency metric.
	SentTime int64
	// DedupKey, when set, makes the publish idempotent for engines that support it: a second
	// message with the same key in the same topic returns the first one's event instead of
	// appending again (bridges use it so that several nodes store a bridged message once).
	DedupKey string
}

// Position is a place in one topic's history: the epoch of the history and the sequence
// number of an event in it. Seq 0 means "before the first event". Epochs change when a
// topic's history is lost (an engine restarted without persistence, a broker was flushed,
// the topic expired), so a position from another epoch cannot be resumed exactly.
type Position struct {
	Epoch string
	Seq   uint64
}

// Event is a published event with its position.
type Event struct {
	Topic Topic
	Position
	// Prev is the Seq of the topic's previous event in the same epoch, 0 for its first. The
	// chain of Prev links lets the hub see a missed event even where an engine's sequence
	// numbers are not dense (NATS JetStream stream sequences); dense engines set Seq-1.
	Prev  uint64
	Name  EventName
	Data  []byte
	Final bool
	// Time is when the engine accepted the event, in Unix nanoseconds.
	Time int64
	// SentTime is the publisher's send time in Unix nanoseconds, or 0.
	SentTime int64
}

// ID returns the event's cursor as a single-topic stream sees it.
func (e *Event) ID() string { return string(AppendPosition(nil, e.Position)) }

// AppendPosition appends the text form "<epoch>-<seq>" of p to b.
func AppendPosition(b []byte, p Position) []byte {
	b = append(b, p.Epoch...)
	b = append(b, '-')
	return strconv.AppendUint(b, p.Seq, 10)
}
