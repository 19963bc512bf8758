package mercure

import (
	"strings"
	"testing"
)

func TestSelectorMatch(t *testing.T) {
	cases := []struct {
		sel, topic string
		want       bool
	}{
		{"*", "https://example.com/anything", true},
		{"*", "", true},
		{"https://example.com/books/1", "https://example.com/books/1", true},
		{"https://example.com/books/1", "https://example.com/books/12", false},
		{"https://example.com/books/{id}", "https://example.com/books/1", true},
		{"https://example.com/books/{id}", "https://example.com/books/abc-_.~%20", true},
		{"https://example.com/books/{id}", "https://example.com/books/1/reviews", false},
		{"https://example.com/books/{id}", "https://example.com/authors/1", false},
		{"https://example.com/books/{id}", "https://example.com/books/", true}, // an undefined variable expands to nothing
		{"https://example.com/users/{u}/books/{b}", "https://example.com/users/7/books/3", true},
		{"https://example.com/users/{u}/books/{b}", "https://example.com/users/7/books/3/x", false},
		{"https://example.com/users/{u}/books/{b}", "https://example.com/users//books/", true},
		{"https://example.com/{+path}", "https://example.com/a/b/c?d=e", true},
		{"https://example.com/{path}", "https://example.com/a/b", false},
		{"https://example.com/books{/id}", "https://example.com/books/1", true},
		{"https://example.com/books{/id}", "https://example.com/books", true},
		{"https://example.com/books{/id*}", "https://example.com/books/1/2", true},
		{"https://example.com/books{?topic}", "https://example.com/books?topic=x", true},
		{"https://example.com/books{?topic}", "https://example.com/books?other=x", false},
		{"https://example.com/books{?a,b}", "https://example.com/books?a=1&b=2", true},
		{"https://example.com/books{?a,b}", "https://example.com/books?b=2", true},
		{"https://example.com/books{&a}", "https://example.com/books&a=1", true},
		{"https://example.com/b{#frag}", "https://example.com/b#x/y", true},
		{"https://example.com/b{.ext}", "https://example.com/b.json", true},
		{"https://example.com/b{;p}", "https://example.com/b;p=1", true},
		{"https://example.com/b{;p}", "https://example.com/b;p", true},
		{"https://example.com/b/{id:3}", "https://example.com/b/abc", true},
		{"https://example.com/b/{id:3}", "https://example.com/b/abcd", false},
		{"https://example.com/b/{x,y}", "https://example.com/b/1,2", true},
		// Not templates: matched as exact strings only.
		{"https://example.com/{id", "https://example.com/{id", true},
		{"https://example.com/{id", "https://example.com/1", false},
		{"https://example.com/{}", "https://example.com/{}", true},
		{"https://example.com/{=x}", "https://example.com/1", false},
		{"https://example.com/id}", "https://example.com/id}", true},
		// Regular-expression characters in literals are literal.
		{"https://example.com/a.b/{id}", "https://example.com/aXb/1", false},
		{"https://example.com/a+b/{id}", "https://example.com/a+b/1", true},
		{"urn:isbn:{isbn}", "urn:isbn:0451450523", true},
	}
	for _, c := range cases {
		t.Run(c.sel+"|"+c.topic, func(t *testing.T) {
			if got := compileSelector(c.sel).match(c.topic); got != c.want {
				t.Fatalf("compileSelector(%q).match(%q) = %v, want %v", c.sel, c.topic, got, c.want)
			}
		})
	}
}

func TestSelectorKinds(t *testing.T) {
	cases := []struct {
		sel    string
		kind   selectorKind
		prefix string
	}{
		{"*", selectAll, ""},
		{"https://example.com/x", selectExact, ""},
		{"https://example.com/{x}/y", selectTemplate, "https://example.com/"},
		{"{+x}", selectTemplate, ""},
		{"https://example.com/{x", selectExact, ""},
	}
	for _, c := range cases {
		s := compileSelector(c.sel)
		if s.kind != c.kind || s.prefix != c.prefix {
			t.Errorf("%q: kind %d prefix %q, want %d %q", c.sel, s.kind, s.prefix, c.kind, c.prefix)
		}
	}
}

// FuzzCompileTemplate: any string compiles (as a template or an exact topic) without
// panicking; a template matches the template text with its expressions removed when the
// literal parts are plain, and an exact selector matches exactly itself.
func FuzzCompileTemplate(f *testing.F) {
	for _, s := range []string{
		"https://example.com/books/{id}", "{+path}", "a{?x,y}b", "{/a*}{.b:3}", "{", "}", "{}",
		"{=x}", "{a", "x{a.b}y", "{%41}", "{a:10000}", "{a:0}", "{;p*}", "{&q}", "{#f}",
	} {
		f.Add(s, "https://example.com/books/1")
	}
	f.Fuzz(func(t *testing.T, sel, topic string) {
		s := compileSelector(sel)
		got := s.match(topic)
		switch s.kind {
		case selectExact:
			if got != (sel == topic) {
				t.Fatalf("exact %q matched %q: %v", sel, topic, got)
			}
		case selectTemplate:
			if s.re == nil || !strings.HasPrefix(sel, s.prefix) {
				t.Fatalf("template %q compiled without a regexp or with prefix %q", sel, s.prefix)
			}
			if got && !strings.HasPrefix(topic, s.prefix) {
				t.Fatalf("template %q matched %q outside its prefix %q", sel, topic, s.prefix)
			}
		}
	})
}
