package herald

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxCursorLen bounds the text form of a cursor accepted from clients.
const MaxCursorLen = 8192

// MaxEpochLen bounds an epoch's length in a cursor.
const MaxEpochLen = 32

// Cursor is a stream's place in each of its topics: one Position per topic, in the stream's
// canonical topic order (sorted, without duplicates). It travels as the SSE id, so a client
// that reconnects with its Last-Event-ID resumes every topic exactly.
//
// Text form: the positions joined by '.', each "<epoch>-<seq>"; a position whose epoch equals
// the previous one's is written as just "<seq>". Epochs are [0-9a-z]{0,32}. A single-topic
// cursor is therefore the event's own id, e.g. "k2x9q7ab-42"; a two-topic one looks like
// "k2x9q7ab-42.7" or "k2x9q7ab-42.m3n4p5q6-7".
type Cursor []Position

// ParseCursor parses the text form of a cursor.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: empty", ErrInvalidCursor)
	}
	if len(s) > MaxCursorLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidCursor, MaxCursorLen)
	}
	n := strings.Count(s, ".") + 1
	c := make(Cursor, 0, n)
	epoch := ""
	for i := 0; ; i++ {
		part, rest, more := strings.Cut(s, ".")
		s = rest
		seqText := part
		if j := strings.IndexByte(part, '-'); j >= 0 {
			epoch = part[:j]
			seqText = part[j+1:]
			if err := checkEpoch(epoch); err != nil {
				return nil, fmt.Errorf("%w: position %d: %w", ErrInvalidCursor, i, err)
			}
		} else if i == 0 {
			return nil, fmt.Errorf("%w: first position has no epoch", ErrInvalidCursor)
		}
		if seqText == "" || (len(seqText) > 1 && seqText[0] == '0') || seqText[0] == '+' {
			return nil, fmt.Errorf("%w: position %d: bad sequence %q", ErrInvalidCursor, i, seqText)
		}
		seq, err := strconv.ParseUint(seqText, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: position %d: bad sequence %q", ErrInvalidCursor, i, seqText)
		}
		c = append(c, Position{Epoch: epoch, Seq: seq})
		if !more {
			return c, nil
		}
	}
}

func checkEpoch(e string) error {
	if len(e) > MaxEpochLen {
		return fmt.Errorf("epoch longer than %d bytes", MaxEpochLen)
	}
	for i := 0; i < len(e); i++ {
		c := e[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return fmt.Errorf("epoch byte %d (0x%02x) is not [0-9a-z]", i, c)
		}
	}
	return nil
}

// ValidEpoch reports whether e can appear in a cursor; engines must only issue such epochs.
func ValidEpoch(e string) bool { return checkEpoch(e) == nil }

// AppendCursor appends the text form of c to b without allocating beyond b's growth.
func AppendCursor(b []byte, c []Position) []byte {
	for i, p := range c {
		if i > 0 {
			b = append(b, '.')
			if p.Epoch == c[i-1].Epoch {
				b = strconv.AppendUint(b, p.Seq, 10)
				continue
			}
		}
		b = AppendPosition(b, p)
	}
	return b
}

// String returns the text form of c.
func (c Cursor) String() string { return string(AppendCursor(nil, c)) }
