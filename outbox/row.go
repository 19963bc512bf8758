package outbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/heraldpush/herald"
)

// MaxDedupKeyLen is the longest dedup_key a row may carry.
const MaxDedupKeyLen = 255

// reservedNamespace is Herald's own topic namespace (server.ReservedNamespace); rows may not
// publish into it, as HTTP publishers may not.
const reservedNamespace = "herald"

// errBadRow marks a row that can never be delivered: it goes to the dead table.
var errBadRow = errors.New("undeliverable row")

// row is one outbox row as a round reads it.
type row struct {
	id       int64
	topic    string
	event    string
	data     string // the jsonb value's text
	final    bool
	dedupKey string  // "" when NULL
	age      float64 // seconds since created_at, by the database's clock
}

// message maps r to the message it publishes. Its error wraps errBadRow and says why.
func (r *row) message(table string, maxData int) (herald.Message, error) {
	topic, err := herald.ParseTopic(r.topic)
	if err != nil {
		return herald.Message{}, fmt.Errorf("%w: topic: %w", errBadRow, err)
	}
	if topic.Namespace() == reservedNamespace {
		return herald.Message{}, fmt.Errorf("%w: topic %q: the %q namespace is Herald's own", errBadRow, topic, reservedNamespace)
	}
	name, err := herald.ParseEventName(r.event)
	if err != nil {
		return herald.Message{}, fmt.Errorf("%w: event: %w", errBadRow, err)
	}
	data, err := eventData([]byte(r.data))
	if err != nil {
		return herald.Message{}, fmt.Errorf("%w: data: %w", errBadRow, err)
	}
	if len(data) > maxData {
		return herald.Message{}, fmt.Errorf("%w: data is %d bytes, at most %d", errBadRow, len(data), maxData)
	}
	key := r.dedupKey
	if key == "" {
		key = table + ":" + strconv.FormatInt(r.id, 10)
	} else if err := checkDedupKey(key); err != nil {
		return herald.Message{}, fmt.Errorf("%w: dedup_key: %w", errBadRow, err)
	}
	return herald.Message{Topic: topic, Name: name, Data: data, Final: r.final, DedupKey: key}, nil
}

// checkDedupKey accepts 1–255 bytes of printable ASCII (engines put the key into Redis
// scripts and NATS headers).
func checkDedupKey(k string) error {
	if len(k) > MaxDedupKeyLen {
		return fmt.Errorf("longer than %d bytes", MaxDedupKeyLen)
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("byte %d (0x%02x) is not printable ASCII", i, c)
		}
	}
	return nil
}

// eventData turns a JSON value into the event's text as POST /v1/publish does: a JSON string
// is sent as its text, anything else as compact JSON (jsonb's text form has spaces after
// ':' and ','), null as empty data.
func eventData(raw []byte) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
		return []byte{}, nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return []byte(s), nil
	case bytes.IndexAny(raw, " \t\r\n") < 0:
		if !json.Valid(raw) {
			return nil, errors.New("not JSON")
		}
		return raw, nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
