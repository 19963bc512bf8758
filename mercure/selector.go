package mercure

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// MaxSelectorLen bounds one topic selector (a subscriber's topic or a JWT claim entry).
const MaxSelectorLen = 2048

// selectorKind says how a selector matches a topic.
type selectorKind uint8

const (
	selectAll      selectorKind = iota // "*": every topic
	selectExact                        // the topic itself
	selectTemplate                     // an RFC 6570 URI template
)

// selector is a compiled topic selector: "*", an exact topic, or a URI template. A string
// that is not a valid URI template (an unbalanced brace, an unknown operator) matches only
// itself, as in the reference hub.
type selector struct {
	raw    string
	kind   selectorKind
	prefix string         // a template's literal text before its first expression
	re     *regexp.Regexp // a template's anchored regular expression
}

// match reports whether topic is selected.
func (s *selector) match(topic string) bool {
	switch s.kind {
	case selectAll:
		return true
	case selectExact:
		return topic == s.raw
	}
	return strings.HasPrefix(topic, s.prefix) && s.re.MatchString(topic)
}

// errTemplate reports a string that is not a valid URI template.
var errTemplate = errors.New("invalid URI template")

// compileSelector compiles raw. It never fails: what is not a template is an exact topic.
func compileSelector(raw string) *selector {
	switch {
	case raw == "*":
		return &selector{raw: raw, kind: selectAll}
	case !strings.ContainsAny(raw, "{}"):
		return &selector{raw: raw, kind: selectExact}
	}
	re, prefix, err := compileTemplate(raw)
	if err != nil {
		return &selector{raw: raw, kind: selectExact}
	}
	return &selector{raw: raw, kind: selectTemplate, prefix: prefix, re: re}
}

// Character classes of RFC 6570 section 1.5, as regular-expression fragments.
const (
	unreservedClass = `A-Za-z0-9\-._~`
	reservedClass   = `:/?#\[\]@!$&'()*+,;=`
	pctEncoded      = `%[0-9A-Fa-f]{2}`
)

// operator is the behaviour of one RFC 6570 expression operator (appendix A).
type operator struct {
	first, sep    string
	named         bool
	ifEmpty       string
	allowReserved bool
}

var operators = map[byte]operator{
	0:   {first: "", sep: ","},
	'+': {first: "", sep: ",", allowReserved: true},
	'#': {first: "#", sep: ",", allowReserved: true},
	'.': {first: ".", sep: "."},
	'/': {first: "/", sep: "/"},
	';': {first: ";", sep: ";", named: true},
	'?': {first: "?", sep: "&", named: true, ifEmpty: "="},
	'&': {first: "&", sep: "&", named: true, ifEmpty: "="},
}

// varspec is one variable of an expression.
type varspec struct {
	name    string
	prefix  int // the ":N" modifier, 0 when absent
	explode bool
}

// compileTemplate turns an RFC 6570 (level 4) URI template into an anchored regular
// expression that matches every expansion of it, and returns the template's literal prefix
// (for a cheap first check). Every variable may be undefined (its expansion empty), so an
// expression is optional as a whole. Go's regexp runs in linear time, so a hostile template
// cannot make matching slow.
func compileTemplate(tpl string) (*regexp.Regexp, string, error) {
	var b strings.Builder
	b.WriteString(`^`)
	prefix, seenExpr := "", false
	for i := 0; i < len(tpl); {
		c := tpl[i]
		switch c {
		case '}':
			return nil, "", fmt.Errorf("%w: '}' without '{' at byte %d", errTemplate, i)
		case '{':
			end := strings.IndexByte(tpl[i:], '}')
			if end < 0 {
				return nil, "", fmt.Errorf("%w: '{' at byte %d is not closed", errTemplate, i)
			}
			if err := appendExpression(&b, tpl[i+1:i+end]); err != nil {
				return nil, "", err
			}
			if !seenExpr {
				prefix, seenExpr = tpl[:i], true
			}
			i += end + 1
		default:
			if c < 0x20 || c == 0x7f {
				return nil, "", fmt.Errorf("%w: control character at byte %d", errTemplate, i)
			}
			j := i
			for j < len(tpl) && tpl[j] != '{' && tpl[j] != '}' {
				j++
			}
			b.WriteString(regexp.QuoteMeta(tpl[i:j]))
			i = j
		}
	}
	if !seenExpr {
		prefix = tpl
	}
	b.WriteString(`$`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", errTemplate, err)
	}
	return re, prefix, nil
}

// appendExpression appends the regular expression of one "{…}" expression (without braces).
func appendExpression(b *strings.Builder, expr string) error {
	if expr == "" {
		return fmt.Errorf("%w: empty expression", errTemplate)
	}
	var opc byte
	switch expr[0] {
	case '+', '#', '.', '/', ';', '?', '&':
		opc, expr = expr[0], expr[1:]
	case '=', ',', '!', '@', '|':
		return fmt.Errorf("%w: reserved operator %q", errTemplate, expr[0])
	}
	op := operators[opc]
	vars, err := parseVarspecs(expr)
	if err != nil {
		return err
	}
	chars := unreservedClass
	if op.allowReserved {
		chars += reservedClass
	}
	unit := `(?:[` + chars + `]|` + pctEncoded + `)`
	value := unit + `*`
	list := value + `(?:,` + value + `)*`
	items := make([]string, 0, len(vars))
	anyName := false
	for _, v := range vars {
		val := list
		if v.prefix > 0 {
			val = unit + `{0,` + strconv.Itoa(v.prefix) + `}`
		}
		if v.explode {
			// An exploded list repeats its separator; an exploded map of a named operator
			// names each item by its key, so any name goes.
			val = value
			anyName = anyName || op.named
		}
		if !op.named {
			items = append(items, val)
			continue
		}
		name := regexp.QuoteMeta(v.name)
		switch op.ifEmpty {
		case "=":
			items = append(items, name+`=`+val)
		default:
			items = append(items, name+`(?:=`+val+`)?`)
		}
	}
	if anyName {
		items = append(items, `(?:[`+unreservedClass+`]|`+pctEncoded+`)+(?:=`+value+`)?`)
	}
	item := `(?:` + strings.Join(items, `|`) + `)`
	b.WriteString(`(?:` + regexp.QuoteMeta(op.first) + item + `(?:` + regexp.QuoteMeta(op.sep) + item + `)*)?`)
	return nil
}

// parseVarspecs parses "var1,var2:3,list*".
func parseVarspecs(s string) ([]varspec, error) {
	parts := strings.Split(s, ",")
	vars := make([]varspec, 0, len(parts))
	for _, p := range parts {
		var v varspec
		switch {
		case strings.HasSuffix(p, "*"):
			v.explode, p = true, p[:len(p)-1]
		case strings.Contains(p, ":"):
			i := strings.IndexByte(p, ':')
			n, err := strconv.Atoi(p[i+1:])
			if err != nil || n < 1 || n > 9999 || len(p[i+1:]) > 4 || p[i+1] == '+' {
				return nil, fmt.Errorf("%w: bad prefix modifier in %q", errTemplate, p)
			}
			v.prefix, p = n, p[:i]
		}
		if !validVarname(p) {
			return nil, fmt.Errorf("%w: bad variable name %q", errTemplate, p)
		}
		v.name = p
		vars = append(vars, v)
	}
	return vars, nil
}

// validVarname checks RFC 6570's varname: varchar *( ["."] varchar ), varchar = ALPHA /
// DIGIT / "_" / pct-encoded.
func validVarname(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		case c == '.':
			if s[i-1] == '.' {
				return false
			}
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
		default:
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// selectorCache shares compiled selectors between subscribers (many subscribe with the same
// few templates). It is bounded: when full it starts over.
type selectorCache struct {
	mu  sync.Mutex
	m   map[string]*selector
	max int
}

func newSelectorCache(max int) *selectorCache {
	return &selectorCache{m: make(map[string]*selector), max: max}
}

// get returns the compiled selector of raw.
func (c *selectorCache) get(raw string) *selector {
	c.mu.Lock()
	s := c.m[raw]
	c.mu.Unlock()
	if s != nil {
		return s
	}
	s = compileSelector(raw)
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[raw] = s
	c.mu.Unlock()
	return s
}

// matchAny reports whether one of topics matches one of sels.
func matchAny(sels []*selector, topics []string) bool {
	for _, s := range sels {
		for _, t := range topics {
			if s.match(t) {
				return true
			}
		}
	}
	return false
}
