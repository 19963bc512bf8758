package python_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/client"
	"github.com/heraldpush/herald/internal/testserver"
)

// stepEvent is the data herald.celery publishes for a task.
type stepEvent struct {
	Step         string          `json:"step"`
	Task         string          `json:"task"`
	TaskID       string          `json:"task_id"`
	State        string          `json:"state"`
	Position     int             `json:"position"`
	Steps        int             `json:"steps"`
	Progress     *float64        `json:"progress"`
	TaskProgress *float64        `json:"task_progress"`
	Result       json.RawMessage `json:"result"`
	Error        string          `json:"error"`
	Reason       string          `json:"reason"`
	Final        bool            `json:"final"`
}

// TestCeleryChainEndToEnd runs a real Celery worker (prefork, two processes, Redis broker)
// with herald.celery installed, starts the four-task scan chain vision → rule → answer →
// reward through Celery, and reads the workflow's topic with a subscriber that connects
// only after the first task has finished (the namespace replays all history): it must get
// every step once, in order, and its stream must end with the workflow.
func TestCeleryChainEndToEnd(t *testing.T) {
	py := requirePython(t, "celery", "redis")
	broker := testserver.Redis(t)
	url := memoryGateway(t)
	dir := filepath.Join(pythonDir(t), "testdata", "celery")
	env := []string{
		"PYTHONPATH=" + pythonDir(t),
		"BROKER_URL=" + broker.URL(),
		"HERALD_URL=" + url,
		"HERALD_API_KEY=" + testAPIKey,
	}
	worker := testserver.StartProcess(t, dir, env, py, "-m", "celery", "-A", "scanapp", "worker",
		"--loglevel=INFO", "--pool=prefork", "--concurrency=2", "--hostname=scan@test",
		"--without-gossip", "--without-mingle", "--without-heartbeat")
	worker.WaitOutput(t, "ready.", 60*time.Second)

	cases := []struct {
		name    string
		options []string
		// lateAfterVision: subscribe only once the worker logged vision's success.
		lateAfterVision bool
		want            []string // "step state position/steps progress"
	}{
		{
			name: "chain", lateAfterVision: true,
			want: []string{
				"vision started 1/4 0", "vision succeeded 1/4 25",
				"rule started 2/4 25", "rule succeeded 2/4 50",
				"answer started 3/4 50", "answer progress 3/4 62.5", "answer succeeded 3/4 75",
				"reward started 4/4 75", "reward succeeded 4/4 100 final",
			},
		},
		{
			name: "retry", options: []string{"retry_once"},
			want: []string{
				"vision started 1/4 0", "vision succeeded 1/4 25",
				"rule started 2/4 25", "rule retrying 2/4 -", "rule started 2/4 25", "rule succeeded 2/4 50",
				"answer started 3/4 50", "answer progress 3/4 62.5", "answer succeeded 3/4 75",
				"reward started 4/4 75", "reward succeeded 4/4 100 final",
			},
		},
		{
			// The process that starts the chain has no integration: the worker alone
			// numbers the steps (the root task counts its chain).
			name: "uninstalled producer", options: []string{"uninstalled"},
			want: []string{
				"vision started 1/4 0", "vision succeeded 1/4 25",
				"rule started 2/4 25", "rule succeeded 2/4 50",
				"answer started 3/4 50", "answer progress 3/4 62.5", "answer succeeded 3/4 75",
				"reward started 4/4 75", "reward succeeded 4/4 100 final",
			},
		},
		{
			name: "failure", options: []string{"fail"},
			want: []string{
				"vision started 1/4 0", "vision succeeded 1/4 25",
				"rule started 2/4 25", "rule failed 2/4 - final",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gate := "gate:" + strings.ReplaceAll(c.name, " ", "-")
			args := append([]string{"start.py", "img-" + c.name + ".jpg", "gate=" + gate}, c.options...)
			root := strings.TrimSpace(runPython(t, dir, env, 30*time.Second, args...))
			if len(root) != 36 {
				t.Fatalf("start.py printed %q, want a task id", root)
			}
			if c.lateAfterVision {
				worker.WaitOutput(t, "Task scan.vision["+root+"] succeeded", 30*time.Second)
			}
			events := subscribeUntilEnd(t, url, "scan:"+root, func() { rpush(t, broker.Addr(), gate, "open") })
			got := make([]string, len(events))
			for i, e := range events {
				got[i] = e.summary()
				if e.Task != "scan."+e.Step {
					t.Errorf("event %d: task %q for step %q", i, e.Task, e.Step)
				}
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("events of scan:%s:\n%s\nwant:\n%s\nworker:\n%s", root, strings.Join(got, "\n"), strings.Join(c.want, "\n"), worker.Output())
			}
			first, last := events[0], events[len(events)-1]
			if first.TaskID != root {
				t.Errorf("first task id %q, want the root id %q", first.TaskID, root)
			}
			switch c.name {
			case "chain", "retry", "uninstalled producer":
				if string(events[1].Result) != `{"label":"can","image":"img-`+c.name+`.jpg"}` {
					t.Errorf("vision result %s", events[1].Result)
				}
				if string(last.Result) != `{"points":10}` {
					t.Errorf("reward result %s", last.Result)
				}
				if c.name == "retry" && !strings.Contains(events[3].Reason, "rule service busy") {
					t.Errorf("retry reason %q", events[3].Reason)
				}
			case "failure":
				if !strings.Contains(last.Error, "ValueError: no rule for can") {
					t.Errorf("failure error %q", last.Error)
				}
			}
		})
	}
}

func (e stepEvent) summary() string {
	s := fmt.Sprintf("%s %s %d/%d ", e.Step, e.State, e.Position, e.Steps)
	if e.Progress != nil {
		s += fmt.Sprintf("%g", *e.Progress)
	} else {
		s += "-"
	}
	if e.Final {
		s += " final"
	}
	return s
}

// subscribeUntilEnd reads topic from its start (the scan namespace replays history to new
// subscribers) until the gateway ends the stream, calling opened after the first event.
func subscribeUntilEnd(t *testing.T, url, topic string, opened func()) []stepEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, err := client.NewSubscriber(url, []string{topic})
	if err != nil {
		t.Fatal(err)
	}
	var events []stepEvent
	err = sub.Run(ctx, func(m client.Message) error {
		if m.Reset {
			return fmt.Errorf("unexpected reset: %s", m.Data)
		}
		var e stepEvent
		if err := json.Unmarshal(m.Data, &e); err != nil {
			return fmt.Errorf("event %q: %w", m.Data, err)
		}
		if m.Event != e.Task {
			return fmt.Errorf("event name %q for task %q", m.Event, e.Task)
		}
		events = append(events, e)
		if len(events) == 1 {
			opened()
		}
		return nil
	})
	if !errors.Is(err, client.ErrStreamEnded) {
		t.Fatalf("subscription of %s ended with %v after %d events, want ErrStreamEnded", topic, err, len(events))
	}
	return events
}

// rpush pushes value onto a Redis list with a raw RESP command.
func rpush(t *testing.T, addr, key, value string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Errorf("rpush: %v", err)
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	cmd := fmt.Sprintf("*3\r\n$5\r\nRPUSH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(key), key, len(value), value)
	if _, err := c.Write([]byte(cmd)); err != nil {
		t.Errorf("rpush: %v", err)
		return
	}
	buf := make([]byte, 32)
	n, err := c.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), ":") {
		t.Errorf("rpush %s: %q %v", key, buf[:n], err)
	}
}
