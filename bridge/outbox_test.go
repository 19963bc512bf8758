package bridge

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestOutboxRule(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    OutboxSource // after WithDefaults
		wantErr string
	}{
		{"defaults", `- outbox: {dsn: "postgres://h@db/app"}`,
			OutboxSource{DSN: "postgres://h@db/app", Table: "herald_outbox", Poll: 250 * time.Millisecond, Batch: 500}, ""},
		{"all set", `- outbox: {table: app_events, poll: 2s, batch: 50, keep: true}`,
			OutboxSource{Table: "app_events", Poll: 2 * time.Second, Batch: 50, Keep: true}, ""},
		{"quoted table", `- outbox: {table: "Events"}`, OutboxSource{}, "lower-case"},
		{"injection", `- outbox: {table: "t; drop table x"}`, OutboxSource{}, "lower-case"},
		{"digit first", `- outbox: {table: "1t"}`, OutboxSource{}, "no digit first"},
		{"too long", `- outbox: {table: "` + strings.Repeat("a", 59) + `"}`, OutboxSource{}, "1–58 bytes"},
		{"batch", `- outbox: {batch: 20000}`, OutboxSource{}, "batch"},
		{"negative poll", `- outbox: {poll: -1s}`, OutboxSource{}, "poll"},
		{"mixed with pattern", `- {pattern: "a:*", topic: "{channel}", outbox: {}}`, OutboxSource{}, "only outbox"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rules []Rule
			if err := yaml.Unmarshal([]byte(tt.yaml), &rules); err != nil {
				t.Fatal(err)
			}
			err := CompileRules(rules)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrInvalidRule) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("CompileRules = %v; want ErrInvalidRule with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !rules[0].IsOutbox() {
				t.Fatal("IsOutbox = false")
			}
			if got := rules[0].Outbox.WithDefaults(); got != tt.want {
				t.Errorf("settings = %+v; want %+v", got, tt.want)
			}
		})
	}
}

func TestSplitOutbox(t *testing.T) {
	var rules []Rule
	src := `
- pattern: "a:*"
  topic: "{channel}"
- outbox: {table: one}
- stream: s
  group: g
  topic: "{channel}"
- outbox: {table: two}
`
	if err := yaml.Unmarshal([]byte(src), &rules); err != nil {
		t.Fatal(err)
	}
	broker, outbox := SplitOutbox(rules)
	if len(broker) != 2 || broker[0].Pattern != "a:*" || broker[1].Group != "g" {
		t.Errorf("broker rules = %+v", broker)
	}
	if len(outbox) != 2 || outbox[0].Outbox.Table != "one" || outbox[1].Outbox.Table != "two" {
		t.Errorf("outbox rules = %+v", outbox)
	}
}

func TestCompileBrokerRulesRefusesOutbox(t *testing.T) {
	rules := []Rule{{Pattern: "a:*", Topic: "{channel}"}, {Outbox: &OutboxSource{}}}
	err := CompileBrokerRules(rules)
	if !errors.Is(err, ErrInvalidRule) || !strings.Contains(err.Error(), "bridge rule 1") {
		t.Fatalf("CompileBrokerRules = %v; want rule 1 refused", err)
	}
	if err := CompileBrokerRules(rules[:1]); err != nil {
		t.Fatal(err)
	}
}
