package mercure

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/heraldpush/herald/sse"
)

// update is one Mercure update as it travels through the log topic: the JSON data of a
// Herald event. The field names are short because every update carries them.
type update struct {
	Topics  []string `json:"t"`
	Private bool     `json:"p,omitempty"`
	ID      string   `json:"i"`
	Type    string   `json:"y,omitempty"`
	Retry   uint64   `json:"r,omitempty"`
	Data    string   `json:"d"`
	// System marks an update the hub itself made (a subscription event).
	System bool `json:"s,omitempty"`
	// Node is the id of the node that made a system update.
	Node string `json:"n,omitempty"`
}

// encode returns the update as event data.
func (u *update) encode() []byte {
	b, _ := json.Marshal(u) // strings and numbers only: cannot fail
	return b
}

// decodeUpdate parses an event's data.
func decodeUpdate(data []byte) (*update, error) {
	u := new(update)
	if err := json.Unmarshal(data, u); err != nil {
		return nil, fmt.Errorf("mercure: log event is not an update: %w", err)
	}
	if len(u.Topics) == 0 {
		return nil, fmt.Errorf("mercure: log event has no topic")
	}
	return u, nil
}

// frame returns the update's SSE frame, the same bytes for every subscriber: id, event type,
// retry, the data as one data: line per line, and the blank line. The id and type were
// checked for CR, LF and NUL at publish.
func (u *update) frame() []byte {
	n := len("id: \nevent: \nretry: 00000000000000000000\n") + len(u.ID) + len(u.Type) + sse.EncodedLen("", []byte(u.Data))
	b := make([]byte, 0, n)
	b = sse.AppendID(b, []byte(u.ID))
	if u.Retry > 0 {
		b = append(b, "retry: "...)
		b = strconv.AppendUint(b, u.Retry, 10)
		b = append(b, '\n')
	}
	return sse.AppendEvent(b, u.Type, []byte(u.Data))
}
