package herald

import (
	"errors"
	"strings"
	"testing"
)

func TestParseTopic(t *testing.T) {
	cases := []struct {
		in string
		ok bool
		ns string
	}{
		{"a", true, ""},
		{"scan:abc", true, "scan"},
		{"user:42:orders", true, "user"},
		{"weird/*.>{}[]~!", true, ""},
		{strings.Repeat("x", 255), true, ""},
		{"", false, ""},
		{strings.Repeat("x", 256), false, ""},
		{"a b", false, ""},
		{"a\nb", false, ""},
		{"a\x00", false, ""},
		{"ü", false, ""},
		{"\x7f", false, ""},
	}
	for _, c := range cases {
		got, err := ParseTopic(c.in)
		if (err == nil) != c.ok {
			t.Errorf("ParseTopic(%q) error %v, want ok=%v", c.in, err, c.ok)
			continue
		}
		if err != nil && !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("ParseTopic(%q) error %v does not wrap ErrInvalidTopic", c.in, err)
		}
		if c.ok && got.Namespace() != c.ns {
			t.Errorf("%q.Namespace() = %q, want %q", c.in, got.Namespace(), c.ns)
		}
	}
}

func TestParseEventName(t *testing.T) {
	for _, ok := range []string{"", "progress", "a b", "ünïcode", strings.Repeat("e", 255)} {
		if _, err := ParseEventName(ok); err != nil {
			t.Errorf("ParseEventName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"a\nb", "a\rb", "a\x00b", "reset", strings.Repeat("e", 256)} {
		if _, err := ParseEventName(bad); !errors.Is(err, ErrInvalidEventName) {
			t.Errorf("ParseEventName(%q) = %v, want ErrInvalidEventName", bad, err)
		}
	}
}

func TestCursorText(t *testing.T) {
	cases := []struct {
		in, canonical string
		want          Cursor
	}{
		{"k2x9q7ab-42", "k2x9q7ab-42", Cursor{{"k2x9q7ab", 42}}},
		{"-0", "-0", Cursor{{"", 0}}},
		{"a-1.2.b-3", "a-1.2.b-3", Cursor{{"a", 1}, {"a", 2}, {"b", 3}}},
		{"a-1.a-2", "a-1.2", Cursor{{"a", 1}, {"a", 2}}},
		{"-0.x-5", "-0.x-5", Cursor{{"", 0}, {"x", 5}}},
		{"a-18446744073709551615", "a-18446744073709551615", Cursor{{"a", 1<<64 - 1}}},
	}
	for _, c := range cases {
		got, err := ParseCursor(c.in)
		if err != nil {
			t.Fatalf("ParseCursor(%q): %v", c.in, err)
		}
		if len(got) != len(c.want) {
			t.Fatalf("ParseCursor(%q) = %v, want %v", c.in, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Fatalf("ParseCursor(%q) = %v, want %v", c.in, got, c.want)
			}
		}
		if s := got.String(); s != c.canonical {
			t.Errorf("String() = %q, want %q", s, c.canonical)
		}
	}
	for _, bad := range []string{"", "42", "a-", "a-x", "a-01", "a-+1", "A-1", "a_b-1", "a-1..2", "a-1.", ".a-1",
		"a-18446744073709551616", "a-1\n", strings.Repeat("a", 33) + "-1", strings.Repeat("a-1.", 3000) + "a-1"} {
		if _, err := ParseCursor(bad); !errors.Is(err, ErrInvalidCursor) {
			t.Errorf("ParseCursor(%q) = %v, want ErrInvalidCursor", bad, err)
		}
	}
}

// FuzzParseCursor: any input either fails with ErrInvalidCursor or parses to a cursor whose
// canonical text parses back to the same cursor and can never break SSE framing.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"k2x9q7ab-42", "-0", "a-1.2.b-3", "a-1.a-2", "earliest", "a-01", "a-1..2", "\x00", "a-1\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCursor(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidCursor) {
				t.Fatalf("error %v does not wrap ErrInvalidCursor", err)
			}
			return
		}
		text := c.String()
		if strings.ContainsAny(text, "\r\n\x00 ") {
			t.Fatalf("canonical text %q could break framing", text)
		}
		again, err := ParseCursor(text)
		if err != nil || len(again) != len(c) {
			t.Fatalf("round trip of %q via %q: %v %v", s, text, again, err)
		}
		for i := range c {
			if again[i] != c[i] {
				t.Fatalf("round trip of %q via %q: %v != %v", s, text, again, c)
			}
		}
	})
}

// FuzzParseTopic: a topic is accepted exactly when it is 1–255 bytes of 0x21–0x7E.
func FuzzParseTopic(f *testing.F) {
	for _, s := range []string{"a", "scan:abc", "a b", "", "ü", "x\x7f", strings.Repeat("x", 256)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := ParseTopic(s)
		valid := len(s) >= 1 && len(s) <= 255
		for i := 0; i < len(s) && valid; i++ {
			valid = s[i] >= 0x21 && s[i] <= 0x7e
		}
		if valid != (err == nil) {
			t.Fatalf("ParseTopic(%q) error %v, want valid=%v", s, err, valid)
		}
	})
}
