package auth

import (
	"errors"
	"fmt"
	"strings"

	"github.com/heraldpush/herald"
)

// MaxPatternLen is the longest topic pattern in bytes.
const MaxPatternLen = 512

// MaxPatterns is the most patterns one claim list ("subscribe" or "publish") may hold.
const MaxPatterns = 256

// subPlaceholder is the placeholder for the token's own subject.
const subPlaceholder = "{sub}"

// ErrInvalidPattern reports a topic pattern that breaks the pattern grammar.
var ErrInvalidPattern = errors.New("invalid topic pattern")

// Pattern is a parsed topic pattern (see the package documentation for the grammar). The zero
// Pattern matches nothing. Build one with ParsePattern.
type Pattern struct {
	raw string
	// parts are the literal pieces between {sub} placeholders: a pattern with n
	// placeholders has n+1 parts (some possibly empty).
	parts []string
	// prefix reports a trailing '*': the topic may go on after the last part.
	prefix bool
}

// ParsePattern validates s as a topic pattern.
func ParsePattern(s string) (Pattern, error) {
	if len(s) == 0 || len(s) > MaxPatternLen {
		return Pattern{}, fmt.Errorf("%w %q: length must be 1–%d bytes", ErrInvalidPattern, s, MaxPatternLen)
	}
	body := s
	prefix := false
	if strings.HasSuffix(body, "*") {
		prefix = true
		body = body[:len(body)-1]
	}
	var parts []string
	lit := 0 // start of the current literal
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c < 0x21 || c > 0x7e:
			return Pattern{}, fmt.Errorf("%w %q: byte %d (0x%02x) is not printable ASCII without spaces", ErrInvalidPattern, s, i, c)
		case c == '*':
			return Pattern{}, fmt.Errorf("%w %q: '*' is allowed only as the last character", ErrInvalidPattern, s)
		case c == '}':
			return Pattern{}, fmt.Errorf("%w %q: '}' outside of {sub}", ErrInvalidPattern, s)
		case c == '{':
			if !strings.HasPrefix(body[i:], subPlaceholder) {
				return Pattern{}, fmt.Errorf("%w %q: '{' must start the placeholder {sub}", ErrInvalidPattern, s)
			}
			parts = append(parts, body[lit:i])
			i += len(subPlaceholder) - 1
			lit = i + 1
		}
	}
	parts = append(parts, body[lit:])
	if prefix {
		// In a prefix pattern every {sub} must be followed by a ':' before the next {sub} or
		// the '*'; otherwise one subject could reach another's topics: with "user:{sub}*"
		// subject "4" would read "user:42", with "user:{sub}-*" subject "a" would read
		// "user:a-b-x" of subject "a-b". Subjects never contain ':' (see ValidSubject).
		for _, part := range parts[1:] {
			if !strings.Contains(part, ":") {
				return Pattern{}, fmt.Errorf("%w %q: in a pattern ending with '*', each {sub} must be followed by a ':' (e.g. \"user:{sub}:*\")", ErrInvalidPattern, s)
			}
		}
	}
	return Pattern{raw: s, parts: parts, prefix: prefix}, nil
}

// ParsePatterns parses each of ss; it fails on the first invalid pattern or when there are
// more than MaxPatterns.
func ParsePatterns(ss []string) ([]Pattern, error) {
	if len(ss) > MaxPatterns {
		return nil, fmt.Errorf("%w: %d patterns, at most %d allowed", ErrInvalidPattern, len(ss), MaxPatterns)
	}
	if len(ss) == 0 {
		return nil, nil
	}
	ps := make([]Pattern, len(ss))
	for i, s := range ss {
		p, err := ParsePattern(s)
		if err != nil {
			return nil, err
		}
		ps[i] = p
	}
	return ps, nil
}

// String returns the pattern as written.
func (p Pattern) String() string { return p.raw }

// HasSubject reports whether the pattern contains the {sub} placeholder.
func (p Pattern) HasSubject() bool { return len(p.parts) > 1 }

// Match reports whether topic matches p for a token whose subject is sub. A pattern with
// {sub} never matches when sub is not a valid subject for substitution (see ValidSubject).
// Match does not allocate.
func (p Pattern) Match(topic herald.Topic, sub string) bool {
	if p.parts == nil {
		return false
	}
	if len(p.parts) > 1 && !ValidSubject(sub) {
		return false
	}
	rest := string(topic)
	for i, part := range p.parts {
		if i > 0 {
			if !strings.HasPrefix(rest, sub) {
				return false
			}
			rest = rest[len(sub):]
		}
		if !strings.HasPrefix(rest, part) {
			return false
		}
		rest = rest[len(part):]
	}
	return p.prefix || rest == ""
}

// ValidSubject reports whether sub may stand in for {sub} in a pattern or name a personal
// topic: 1–255 bytes of printable ASCII without spaces, and none of '*' (a wildcard),
// ':' (the namespace and segment separator, so that one subject's topics can never be a
// prefix of another's) or '{' '}'.
func ValidSubject(sub string) bool {
	if len(sub) == 0 || len(sub) > herald.MaxTopicLen {
		return false
	}
	for i := 0; i < len(sub); i++ {
		switch c := sub[i]; {
		case c < 0x21 || c > 0x7e, c == '*', c == ':', c == '{', c == '}':
			return false
		}
	}
	return true
}

// MatchAny reports whether any of ps matches topic for subject sub.
func MatchAny(ps []Pattern, topic herald.Topic, sub string) bool {
	for _, p := range ps {
		if p.Match(topic, sub) {
			return true
		}
	}
	return false
}
