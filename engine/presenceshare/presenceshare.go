// Package presenceshare is the stored form of a node's share of presence, for engines that
// keep shares as bytes (Redis, NATS), so every engine reads and writes the same format: a
// topic share is a JSON object of user → connections, a user share a decimal count.
package presenceshare

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/heraldpush/herald"
)

// EncodeTopic returns the stored form of a node's share of a topic, or nil for an
// empty share (remove it).
func EncodeTopic(users map[string]int) ([]byte, error) {
	if len(users) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(users)
	if err != nil {
		return nil, fmt.Errorf("presence share: encode: %w", err)
	}
	return b, nil
}

// EncodeUser returns the stored form of a node's share of a user, or nil for 0
// (remove it).
func EncodeUser(n int) []byte {
	if n <= 0 {
		return nil
	}
	return strconv.AppendInt(nil, int64(n), 10)
}

// AddTopic adds a stored topic share (EncodeTopic) to tp.
func AddTopic(tp *herald.TopicPresence, b []byte) error {
	var users map[string]int
	if err := json.Unmarshal(b, &users); err != nil {
		return fmt.Errorf("presence share: decode: %w", err)
	}
	if tp.Users == nil {
		tp.Users = make(map[string]int, len(users))
	}
	for user, n := range users {
		tp.Connections += n
		if user != "" {
			tp.Users[user] += n
		}
	}
	return nil
}

// ParseUser decodes a stored user share (EncodeUser).
func ParseUser(b []byte) (int, error) {
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return 0, fmt.Errorf("presence share: decode: %w", err)
	}
	return n, nil
}
