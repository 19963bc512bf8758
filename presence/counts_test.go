package presence

import (
	"maps"
	"testing"
)

func TestUserCounts(t *testing.T) {
	type step struct {
		user   string
		d      int
		before int
	}
	tests := []struct {
		name  string
		steps []step
		want  map[string]int
	}{
		{"one user joins twice", []step{{"a", 1, 0}, {"a", 1, 1}}, map[string]int{"a": 2}},
		{"one user leaves", []step{{"a", 1, 0}, {"a", -1, 1}}, map[string]int{}},
		{"anonymous", []step{{"", 1, 0}, {"", 1, 1}, {"", -1, 2}}, map[string]int{"": 1}},
		{"second user goes to the map", []step{{"a", 1, 0}, {"b", 1, 0}, {"b", 1, 1}}, map[string]int{"a": 1, "b": 2}},
		{"inline slot freed, map user keeps one place", []step{{"a", 1, 0}, {"b", 1, 0}, {"a", -1, 1}, {"b", 1, 1}}, map[string]int{"b": 2}},
		{"freed slot taken by a new user", []step{{"a", 1, 0}, {"b", 1, 0}, {"a", -1, 1}, {"c", 1, 0}}, map[string]int{"b": 1, "c": 1}},
		{"leave without join", []step{{"a", -1, 0}}, map[string]int{}},
		{"everyone leaves", []step{{"a", 1, 0}, {"b", 1, 0}, {"b", -1, 1}, {"a", -1, 1}}, map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c userCounts
			for i, s := range tt.steps {
				if got := c.add(s.user, s.d); got != s.before {
					t.Fatalf("step %d: add(%q, %d) returned %d, want %d", i, s.user, s.d, got, s.before)
				}
			}
			if got := c.fill(map[string]int{}); !maps.Equal(got, tt.want) {
				t.Fatalf("counts %v, want %v", got, tt.want)
			}
			total := 0
			for u, n := range tt.want {
				total += n
				if got := c.get(u); got != n {
					t.Errorf("get(%q) = %d, want %d", u, got, n)
				}
			}
			if c.total() != total || c.empty() != (total == 0) {
				t.Errorf("total %d empty %v, want %d and %v", c.total(), c.empty(), total, total == 0)
			}
			if c.get("nobody") != 0 {
				t.Errorf("get(nobody) = %d, want 0", c.get("nobody"))
			}
		})
	}
}
