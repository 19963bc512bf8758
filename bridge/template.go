package bridge

import (
	"fmt"
	"strconv"
	"strings"
)

// Template builds a topic from a bridged message. Placeholders in braces are replaced:
//   - {channel} (alias {subject}, {stream}): the name the message arrived on
//     (Pub/Sub channel, NATS subject, stream key);
//   - {1}, {2}, …: what the pattern's first, second, … '*' matched;
//   - {name}: the message field name (a top-level key of a JSON object payload, or a stream
//     entry field), as text.
//
// "{{" and "}}" stand for literal braces, so topics containing braces can be built.
type Template struct {
	text  string
	parts []tmplPart
}

type tmplKind uint8

const (
	partLiteral tmplKind = iota
	partChannel
	partCapture
	partField
)

type tmplPart struct {
	kind tmplKind
	text string // literal text or field name
	n    int    // capture number, 1-based
}

// ParseTemplate parses s; stars is the number of '*' of the rule's pattern, so that {3}
// with two stars is rejected early.
func ParseTemplate(s string, stars int) (Template, error) {
	if s == "" {
		return Template{}, fmt.Errorf("empty template")
	}
	t := Template{text: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, tmplPart{kind: partLiteral, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '}':
			return Template{}, fmt.Errorf("template %q: unmatched '}' at byte %d (write '}}' for a literal brace)", s, i)
		case c == '{':
			end := strings.IndexByte(s[i+1:], '}')
			if end < 0 {
				return Template{}, fmt.Errorf("template %q: unclosed '{' at byte %d (write '{{' for a literal brace)", s, i)
			}
			name := s[i+1 : i+1+end]
			p, err := placeholder(name, stars)
			if err != nil {
				return Template{}, fmt.Errorf("template %q: %w", s, err)
			}
			flush()
			t.parts = append(t.parts, p)
			i += end + 1
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return t, nil
}

func placeholder(name string, stars int) (tmplPart, error) {
	switch name {
	case "":
		return tmplPart{}, fmt.Errorf("empty placeholder {}")
	case "channel", "subject", "stream":
		return tmplPart{kind: partChannel}, nil
	}
	if name[0] >= '0' && name[0] <= '9' {
		n, err := strconv.Atoi(name)
		if err != nil || n < 1 {
			return tmplPart{}, fmt.Errorf("placeholder {%s}: captures are numbered from {1}", name)
		}
		if n > stars {
			return tmplPart{}, fmt.Errorf("placeholder {%s}: the pattern has only %d '*'", name, stars)
		}
		return tmplPart{kind: partCapture, n: n}, nil
	}
	if strings.ContainsAny(name, "{ \t") {
		return tmplPart{}, fmt.Errorf("placeholder {%s}: not a field name", name)
	}
	return tmplPart{kind: partField, text: name}, nil
}

// String returns the template's text.
func (t Template) String() string { return t.text }

// Fields returns the names of the message fields the template uses.
func (t Template) Fields() []string {
	var fs []string
	for _, p := range t.parts {
		if p.kind == partField {
			fs = append(fs, p.text)
		}
	}
	return fs
}

// Expand fills the template in. fields returns a field's text and whether it is present; a
// missing field is an error.
func (t Template) Expand(channel string, caps []string, fields func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for _, p := range t.parts {
		switch p.kind {
		case partLiteral:
			b.WriteString(p.text)
		case partChannel:
			b.WriteString(channel)
		case partCapture:
			if p.n > len(caps) {
				return "", fmt.Errorf("template %q: no capture {%d}", t.text, p.n)
			}
			b.WriteString(caps[p.n-1])
		case partField:
			v, ok := fields(p.text)
			if !ok {
				return "", fmt.Errorf("template %q: message has no field %q", t.text, p.text)
			}
			b.WriteString(v)
		}
	}
	return b.String(), nil
}
