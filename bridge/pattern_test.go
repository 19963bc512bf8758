package bridge

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          []string
		ok            bool
	}{
		{"scan:*:progress", "scan:abc:progress", []string{"abc"}, true},
		{"scan:*:progress", "scan:a:b:progress", []string{"a:b"}, true},
		{"scan:*:progress", "scan::progress", []string{""}, true},
		{"scan:*:progress", "scan:abc:progres", nil, false},
		{"scan:*:progress", "xscan:abc:progress", nil, false},
		{"*", "anything", []string{"anything"}, true},
		{"a*b*c", "aXbYbZc", []string{"X", "YbZ"}, true},
		{"a**c", "abc", []string{"", "b"}, true},
		{"exact", "exact", nil, true},
		{"exact", "exactly", nil, false},
		{"*:x", ":x:x", []string{":x"}, true},
		{"{*}", "{a}", []string{"a"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"/"+tt.name, func(t *testing.T) {
			p, err := ParsePattern(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := p.Match(tt.name)
			if ok != tt.ok || !slices.Equal(got, tt.want) {
				t.Errorf("Match(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParsePatternErrors(t *testing.T) {
	for _, s := range []string{"", "a?b", "a[bc]", `a\*`, "a b", "é"} {
		if _, err := ParsePattern(s); err == nil {
			t.Errorf("ParsePattern(%q) accepted", s)
		}
	}
}

// FuzzPattern checks the matcher against the regexp it is meant to equal (each '*' as
// `(.*?)`, anchored) and checks that captures rebuild the name.
func FuzzPattern(f *testing.F) {
	f.Add("scan:*:progress", "scan:a:b:progress")
	f.Add("a**b*", "aabbab")
	f.Add("*x*x*", "xxxxx")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		p, err := ParsePattern(pattern)
		if err != nil {
			return
		}
		parts := strings.Split(pattern, "*")
		quoted := make([]string, len(parts))
		for i, s := range parts {
			quoted[i] = regexp.QuoteMeta(s)
		}
		re := regexp.MustCompile(`(?s)^` + strings.Join(quoted, "(.*?)") + `$`)
		caps, ok := p.Match(name)
		m := re.FindStringSubmatch(name)
		if ok != (m != nil) {
			t.Fatalf("Match(%q, %q) = %v, regexp says %v", pattern, name, ok, m != nil)
		}
		if !ok {
			return
		}
		if !slices.Equal(caps, m[1:]) {
			t.Fatalf("Match(%q, %q) captures %q, regexp %q", pattern, name, caps, m[1:])
		}
		var b strings.Builder
		for i, s := range parts {
			b.WriteString(s)
			if i < len(caps) {
				b.WriteString(caps[i])
			}
		}
		if b.String() != name {
			t.Fatalf("captures %q of %q rebuild %q", caps, pattern, b.String())
		}
	})
}

// FuzzTemplate checks that a parsed template expands without panicking and that literal
// text survives (a template without placeholders expands to its unescaped self).
func FuzzTemplate(f *testing.F) {
	f.Add("scan:{1}", "scan:*:progress", "scan:x:progress")
	f.Add("{{{channel}}}", "*", "a")
	f.Add("{job_id}:{2}", "*:*", "a:b")
	f.Fuzz(func(t *testing.T, tmpl, pattern, name string) {
		p, err := ParsePattern(pattern)
		if err != nil {
			return
		}
		tp, err := ParseTemplate(tmpl, p.Stars())
		if err != nil {
			return
		}
		caps, ok := p.Match(name)
		if !ok {
			return
		}
		got, err := tp.Expand(name, caps, func(s string) (string, bool) { return "<" + s + ">", true })
		if err != nil {
			t.Fatalf("Expand(%q): %v", tmpl, err)
		}
		if !strings.ContainsAny(tmpl, "{}") && got != tmpl {
			t.Fatalf("literal template %q expanded to %q", tmpl, got)
		}
	})
}
