package bridge

import (
	"fmt"
	"strings"
)

// Pattern is a channel, subject or stream-key glob in which '*' matches any run of bytes
// (':' and '.' included, as in Redis PSUBSCRIBE). It is the only wildcard: '?', '[' and '\'
// are rejected so that Herald and the broker agree on what matches. Each '*' captures the
// bytes it matched, numbered from 1 left to right; when a name can be split in several ways,
// earlier stars take as little as possible (the same choice as the regexp `(.*?)`).
type Pattern struct {
	text  string
	parts []string // literal parts around the stars: len(parts) == stars+1
}

// ParsePattern validates s as a Pattern.
func ParsePattern(s string) (Pattern, error) {
	if s == "" {
		return Pattern{}, fmt.Errorf("empty pattern")
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '?' || c == '[' || c == ']' || c == '\\':
			return Pattern{}, fmt.Errorf("pattern %q: byte %d %q is not supported (only '*' is a wildcard)", s, i, c)
		case c < 0x21 || c > 0x7e:
			return Pattern{}, fmt.Errorf("pattern %q: byte %d (0x%02x) is not printable ASCII", s, i, c)
		}
	}
	return Pattern{text: s, parts: strings.Split(s, "*")}, nil
}

// String returns the pattern's text.
func (p Pattern) String() string { return p.text }

// Stars returns the number of '*' in p.
func (p Pattern) Stars() int { return len(p.parts) - 1 }

// Literal reports whether p has no wildcard.
func (p Pattern) Literal() bool { return len(p.parts) == 1 }

// Match reports whether name matches p and returns what each '*' matched.
func (p Pattern) Match(name string) ([]string, bool) {
	if len(p.parts) == 0 {
		return nil, false
	}
	first := p.parts[0]
	if !strings.HasPrefix(name, first) {
		return nil, false
	}
	if len(p.parts) == 1 {
		return nil, name == first
	}
	caps := make([]string, len(p.parts)-1)
	if matchFrom(p.parts[1:], name[len(first):], caps) {
		return caps, true
	}
	return nil, false
}

// matchFrom matches s against "*" + parts[0] + "*" + parts[1] … (one star before each part),
// filling caps; earlier stars match as little as possible. Backtracking is bounded by
// len(s) per star, and patterns are short.
func matchFrom(parts []string, s string, caps []string) bool {
	lit := parts[0]
	if len(parts) == 1 {
		// The last star takes everything up to the final literal suffix.
		if !strings.HasSuffix(s, lit) {
			return false
		}
		caps[0] = s[:len(s)-len(lit)]
		return true
	}
	for i := 0; i+len(lit) <= len(s); i++ {
		if lit != "" {
			j := strings.Index(s[i:], lit)
			if j < 0 {
				return false
			}
			i += j
		}
		caps[0] = s[:i]
		if matchFrom(parts[1:], s[i+len(lit):], caps[1:]) {
			return true
		}
	}
	return false
}
