package herald

import (
	"fmt"
	"strings"
)

// MaxTopicLen is the longest topic name in bytes.
const MaxTopicLen = 255

// Topic is a validated topic name: 1–255 bytes of printable ASCII without spaces
// (0x21–0x7E). The part before the first ':' is the topic's namespace. Build one with
// ParseTopic; the zero Topic is invalid.
type Topic string

// ParseTopic validates s as a topic name.
func ParseTopic(s string) (Topic, error) {
	if len(s) == 0 || len(s) > MaxTopicLen {
		return "", fmt.Errorf("%w: length must be 1–%d bytes, got %d", ErrInvalidTopic, MaxTopicLen, len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e {
			return "", fmt.Errorf("%w: byte %d (0x%02x) is not printable ASCII without spaces", ErrInvalidTopic, i, c)
		}
	}
	return Topic(s), nil
}

// Namespace returns the part of t before its first ':', or "" when t has none.
func (t Topic) Namespace() string {
	if i := strings.IndexByte(string(t), ':'); i >= 0 {
		return string(t[:i])
	}
	return ""
}

// String returns the topic name.
func (t Topic) String() string { return string(t) }
