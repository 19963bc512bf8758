package bridge

import (
	"errors"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/heraldpush/herald"
)

const exampleYAML = `
- pattern: "scan:*:progress"
  topic: "{channel}"
  event_field: step
  final_when: {field: progress, equals: 100}
- stream: ["scan:events:*"]
  group: herald
  topic: "scan:{job_id}"
  event_field: stage
  final_when: {field: status, equals: completed}
- stream: "orders"
  group: g
  topic: "order:{id}"
  event: update
  data_field: body
`

func loadRules(t *testing.T) []Rule {
	t.Helper()
	var rules []Rule
	if err := yaml.Unmarshal([]byte(exampleYAML), &rules); err != nil {
		t.Fatal(err)
	}
	if err := CompileRules(rules); err != nil {
		t.Fatal(err)
	}
	return rules
}

func TestRuleMap(t *testing.T) {
	rules := loadRules(t)
	tests := []struct {
		name    string
		channel string
		payload string
		ok      bool
		want    herald.Message
		wantErr bool
	}{
		{"progress", "scan:abc:progress", `{"step":"vision","progress":40}`, true,
			herald.Message{Topic: "scan:abc:progress", Name: "vision", Data: []byte(`{"step":"vision","progress":40}`)}, false},
		{"final numeric", "scan:abc:progress", `{"step":"reward","progress":100.0}`, true,
			herald.Message{Topic: "scan:abc:progress", Name: "reward", Final: true, Data: []byte(`{"step":"reward","progress":100.0}`)}, false},
		{"final string", "scan:abc:progress", `{"progress":"100"}`, true,
			herald.Message{Topic: "scan:abc:progress", Final: true, Data: []byte(`{"progress":"100"}`)}, false},
		{"not json", "scan:abc:progress", `hello`, true,
			herald.Message{Topic: "scan:abc:progress", Data: []byte(`hello`)}, false},
		{"bad event name", "scan:abc:progress", `{"step":"a\nb"}`, true, herald.Message{}, true},
		{"other channel", "chat:1", `{}`, false, herald.Message{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := rules[0].Map(tt.channel, []byte(tt.payload))
			if ok != tt.ok || (err != nil) != tt.wantErr {
				t.Fatalf("Map = ok %v err %v; want ok %v err %v", ok, err, tt.ok, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got.Topic != tt.want.Topic || got.Name != tt.want.Name || got.Final != tt.want.Final || string(got.Data) != string(tt.want.Data) {
				t.Errorf("Map = %+v; want %+v", got, tt.want)
			}
		})
	}
}

func TestRuleMapFields(t *testing.T) {
	rules := loadRules(t)
	msg, ok, err := rules[1].MapFields("scan:events:7", map[string]string{
		"job_id": "j1", "stage": "rule", "status": "completed", "progress": "100",
	})
	if err != nil || !ok {
		t.Fatalf("MapFields: ok %v err %v", ok, err)
	}
	if msg.Topic != "scan:j1" || msg.Name != "rule" || !msg.Final ||
		string(msg.Data) != `{"job_id":"j1","progress":"100","stage":"rule","status":"completed"}` {
		t.Errorf("MapFields = %+v (data %s)", msg, msg.Data)
	}
	if _, _, err := rules[1].MapFields("scan:events:7", map[string]string{"stage": "x"}); err == nil {
		t.Error("missing job_id accepted")
	}
	msg, ok, err = rules[2].MapFields("orders", map[string]string{"id": "9", "body": "hi"})
	if err != nil || !ok || msg.Topic != "order:9" || msg.Name != "update" || string(msg.Data) != "hi" {
		t.Errorf("MapFields(orders) = %+v, %v, %v", msg, ok, err)
	}
	if _, ok, _ := rules[2].MapFields("orders:x", nil); ok {
		t.Error("literal stream key matched another key")
	}
}

func TestRuleValidation(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
	}{
		{"nothing", Rule{Topic: "x"}},
		{"both", Rule{Pattern: "a", Stream: StringList{"b"}, Group: "g", Topic: "x"}},
		{"stream without group", Rule{Stream: StringList{"s"}, Topic: "x"}},
		{"group on pattern", Rule{Pattern: "a:*", Group: "g", Topic: "x"}},
		{"capture out of range", Rule{Pattern: "a:*", Topic: "{2}"}},
		{"capture zero", Rule{Pattern: "a:*", Topic: "{0}"}},
		{"unclosed brace", Rule{Pattern: "a:*", Topic: "x{1"}},
		{"stray brace", Rule{Pattern: "a:*", Topic: "x}"}},
		{"empty topic", Rule{Pattern: "a:*"}},
		{"bad glob", Rule{Pattern: "a:?", Topic: "x"}},
		{"final without field", Rule{Pattern: "a", Topic: "x", FinalWhen: &Condition{Equals: 1}}},
		{"final without value", Rule{Pattern: "a", Topic: "x", FinalWhen: &Condition{Field: "f"}}},
		{"reserved event", Rule{Pattern: "a", Topic: "x", Event: "reset"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rule.Compile()
			if !errors.Is(err, ErrInvalidRule) {
				t.Fatalf("Compile() = %v; want ErrInvalidRule", err)
			}
			t.Log(err)
		})
	}
}

func TestTemplateBraces(t *testing.T) {
	tp, err := ParseTemplate("{{{1}}}:{channel}", 1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tp.Expand("c", []string{"x"}, nil)
	if err != nil || got != "{x}:c" {
		t.Errorf("Expand = %q, %v", got, err)
	}
}
