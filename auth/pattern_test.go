package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/heraldpush/herald"
)

func TestParsePatternErrors(t *testing.T) {
	tests := []struct {
		name, pattern string
	}{
		{"empty", ""},
		{"too long", strings.Repeat("a", MaxPatternLen+1)},
		{"space", "a b"},
		{"control", "a\nb"},
		{"non-ascii", "café"},
		{"star in the middle", "a*b"},
		{"two stars", "a**"},
		{"leading star", "*a"},
		{"unknown placeholder", "user:{id}"},
		{"lone open brace", "user:{"},
		{"lone close brace", "user:}"},
		{"unclosed sub", "user:{sub"},
		{"star after sub", "user:{sub}*"},
		{"star after two subs", "{sub}{sub}*"},
		{"prefix without separator after sub", "user:{sub}-*"},
		{"prefix with separator after last sub only", "a:{sub}.{sub}:*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePattern(tt.pattern)
			if !errors.Is(err, ErrInvalidPattern) {
				t.Fatalf("ParsePattern(%q) = %v, %v; want ErrInvalidPattern", tt.pattern, p, err)
			}
		})
	}
}

func TestParsePatternsLimit(t *testing.T) {
	many := make([]string, MaxPatterns+1)
	for i := range many {
		many[i] = "a"
	}
	if _, err := ParsePatterns(many); !errors.Is(err, ErrInvalidPattern) {
		t.Fatalf("ParsePatterns(%d patterns) = %v, want ErrInvalidPattern", len(many), err)
	}
	if ps, err := ParsePatterns(many[:MaxPatterns]); err != nil || len(ps) != MaxPatterns {
		t.Fatalf("ParsePatterns(%d patterns) = %d, %v", MaxPatterns, len(ps), err)
	}
}

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern, topic, sub string
		want                bool
	}{
		{"raffle:42", "raffle:42", "", true},
		{"raffle:42", "raffle:421", "", false},
		{"raffle:42", "raffle:4", "", false},
		{"raffle:*", "raffle:42", "", true},
		{"raffle:*", "raffle:", "", true},
		{"raffle:*", "raffle", "", false},
		{"raffle:*", "raffles:1", "", false},
		{"*", "anything:at:all", "", true},
		{"user:{sub}", "user:42", "42", true},
		{"user:{sub}", "user:43", "42", false},
		{"user:{sub}", "user:420", "42", false},
		{"user:{sub}", "user:4", "42", false},
		{"user:{sub}", "user:", "", false},
		{"user:{sub}", "user:*", "*", false},
		{"user:{sub}", "user:a:b", "a:b", false},
		{"user:{sub}", "user:a", "a b", false},
		{"user:{sub}", "user:a", "a\x00", false},
		{"user:{sub}:*", "user:42:orders", "42", true},
		{"user:{sub}:*", "user:42", "42", false},
		{"user:{sub}:*", "user:4:2", "4", true},
		{"user:{sub}:*", "user:42:x", "4", false},
		{"{sub}", "42", "42", true},
		{"{sub}:{sub}", "42:42", "42", true},
		{"{sub}:{sub}", "42:43", "42", false},
		{"pair:{sub}-x:*", "pair:7-x:y", "7", true},
		{"pair:{sub}:{sub}:*", "pair:7:7:z", "7", true},
		{"user:{sub}-x", "user:a-x", "a", true},
		{"user:{sub}", "user:" + strings.Repeat("a", 250), strings.Repeat("a", 250), true},
		{"user:{sub}", "user:x", strings.Repeat("a", 256), false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"|"+tt.topic+"|"+tt.sub, func(t *testing.T) {
			p, err := ParsePattern(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			topic, err := herald.ParseTopic(tt.topic)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Match(topic, tt.sub); got != tt.want {
				t.Errorf("ParsePattern(%q).Match(%q, sub %q) = %v, want %v", tt.pattern, tt.topic, tt.sub, got, tt.want)
			}
		})
	}
}

func TestZeroPatternMatchesNothing(t *testing.T) {
	var p Pattern
	if p.Match("a", "a") || p.Match("", "") {
		t.Fatal("zero Pattern matched")
	}
}

func TestPatternMatchAllocs(t *testing.T) {
	p, _ := ParsePattern("user:{sub}:*")
	allocs := testing.AllocsPerRun(100, func() { p.Match("user:42:orders", "42") })
	if allocs != 0 {
		t.Fatalf("Match allocates %v times", allocs)
	}
}

// referenceMatch is the obvious, allocating definition of a match.
func referenceMatch(raw string, topic herald.Topic, sub string) bool {
	hasSub := strings.Contains(raw, subPlaceholder)
	if hasSub && !ValidSubject(sub) {
		return false
	}
	expanded := strings.ReplaceAll(raw, subPlaceholder, sub)
	if e, ok := strings.CutSuffix(expanded, "*"); ok && strings.HasSuffix(raw, "*") {
		return strings.HasPrefix(string(topic), e)
	}
	return string(topic) == expanded
}

func FuzzPattern(f *testing.F) {
	f.Add("user:{sub}", "user:42", "42")
	f.Add("user:{sub}:*", "user:4:2", "4")
	f.Add("raffle:*", "raffle:1", "")
	f.Add("{sub}{sub}", "aa", "a")
	f.Add("*", "x", "*")
	f.Add("a{sub}b", "a*b", "*")
	f.Add("user:{sub}", "user:a:b", "a:b")
	f.Fuzz(func(t *testing.T, raw, topicStr, sub string) {
		p, err := ParsePattern(raw)
		if err != nil {
			if !errors.Is(err, ErrInvalidPattern) {
				t.Fatalf("error %v does not wrap ErrInvalidPattern", err)
			}
			return
		}
		if strings.Contains(strings.TrimSuffix(raw, "*"), "*") {
			t.Fatalf("accepted %q with an inner '*'", raw)
		}
		if p.String() != raw {
			t.Fatalf("String() = %q, want %q", p.String(), raw)
		}
		topic, err := herald.ParseTopic(topicStr)
		if err != nil {
			return
		}
		got := p.Match(topic, sub)
		if want := referenceMatch(raw, topic, sub); got != want {
			t.Fatalf("ParsePattern(%q).Match(%q, %q) = %v, reference says %v", raw, topic, sub, got, want)
		}
		if got && p.HasSubject() && !ValidSubject(sub) {
			t.Fatalf("pattern %q matched with invalid subject %q", raw, sub)
		}
		if got && p.HasSubject() {
			// No other valid subject may reach the same topic. Any subject that did would
			// stand where the first {sub} starts, so trying every substring from there is
			// exhaustive.
			start := len(p.parts[0])
			for end := start; end <= len(topic); end++ {
				other := string(topic[start:end])
				if other != sub && p.Match(topic, other) {
					t.Fatalf("subjects %q and %q both reach %q through %q", sub, other, topic, raw)
				}
			}
		}
	})
}
