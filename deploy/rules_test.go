package deploy

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testserver"
)

// TestRulesPassPromtool checks deploy/prometheus/herald-rules.yml with `promtool check
// rules` and runs its unit tests (herald-rules.test.yml) with `promtool test rules`.
func TestRulesPassPromtool(t *testing.T) {
	promtool := testserver.RequireBinary(t, "promtool", "prometheus")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"check rules", []string{"check", "rules", "herald-rules.yml"}, "SUCCESS: 20 rules found"},
		{"test rules", []string{"test", "rules", "herald-rules.test.yml"}, "SUCCESS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, promtool, tt.args...)
			cmd.Dir = "prometheus"
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(tt.args, " "), err, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Fatalf("promtool %s printed\n%s\nwant %q", strings.Join(tt.args, " "), out, tt.want)
			}
		})
	}
}
