package examples_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/heraldpush/herald/client"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/server"
)

const apiKey = "examples-publisher-key-0123456789"

// loadConfig decodes an example's herald.yaml strictly into the gateway's configuration (the
// keys `herald serve --config` reads) and sets the test's API key.
func loadConfig(t *testing.T, path string) server.Config {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cfg server.Config
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	cfg.Auth.APIKeys = []string{apiKey}
	return cfg
}

// TestCeleryScanExample runs examples/celery-scan as its README says, on test ports: a
// gateway with the example's herald.yaml, a Redis broker, the Celery worker of tasks.py and
// the stdlib API server. POST /api/scan answers the root id; a subscriber of scan:<id> gets
// the whole workflow and its stream ends with it.
func TestCeleryScanExample(t *testing.T) {
	dir, _ := filepath.Abs("celery-scan")
	py := "/usr/bin/python3"
	run(t, dir, 30*time.Second, py, "-c", "import py_compile, sys; [py_compile.compile(f, doraise=True, cfile=None) for f in sys.argv[1:]]", "tasks.py", "server.py")
	_ = os.RemoveAll(filepath.Join(dir, "__pycache__"))
	run(t, dir, 30*time.Second, py, "-c", "import celery, redis")

	url := gateway(t, loadConfig(t, filepath.Join(dir, "herald.yaml")))
	broker := testserver.Redis(t)
	port := testserver.FreePort(t)
	env := []string{"BROKER_URL=" + broker.URL(), "HERALD_URL=" + url, "HERALD_API_KEY=" + apiKey,
		"SCAN_STEP_SECONDS=0.05", "PORT=" + strconv.Itoa(port), "PYTHONDONTWRITEBYTECODE=1"}
	worker := testserver.StartProcess(t, dir, env, py, "-m", "celery", "-A", "tasks", "worker", "--loglevel=INFO",
		"--concurrency=2", "--hostname=example@test", "--without-gossip", "--without-mingle", "--without-heartbeat")
	api := testserver.StartProcess(t, dir, env, py, "server.py")
	worker.WaitOutput(t, "ready.", 60*time.Second)
	api.WaitOutput(t, "listening on", 30*time.Second)
	base := "http://127.0.0.1:" + strconv.Itoa(port)

	if status, page := get(t, base+"/"); status != 200 || !strings.Contains(page, "new EventSource(HERALD") || !strings.Contains(page, strconv.Quote(url)) {
		t.Fatalf("GET /: %d\n%s", status, page)
	}
	if status, body := post(t, base+"/api/scan", "application/json", "{not json"); status != 400 || !strings.Contains(body, "invalid_json") {
		t.Fatalf("bad JSON: %d %s", status, body)
	}
	status, body := post(t, base+"/api/scan", "application/json", `{"image":"bottle.jpg"}`)
	var started struct {
		TaskID string `json:"task_id"`
		Topic  string `json:"topic"`
		Stream string `json:"stream"`
	}
	if err := json.Unmarshal([]byte(body), &started); status != 202 || err != nil || started.Topic != "scan:"+started.TaskID {
		t.Fatalf("POST /api/scan: %d %s (%v)", status, body, err)
	}
	if started.Stream != url+"/v1/events?topic="+started.Topic {
		t.Errorf("stream URL %q", started.Stream)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, err := client.NewSubscriber(url, []string{started.Topic})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var last map[string]any
	err = sub.Run(ctx, func(m client.Message) error {
		var d map[string]any
		if err := json.Unmarshal(m.Data, &d); err != nil {
			return err
		}
		got = append(got, fmt.Sprintf("%s %v", m.Event, d["state"]))
		last = d
		return nil
	})
	if !errors.Is(err, client.ErrStreamEnded) {
		t.Fatalf("stream: %v after %v\nworker:\n%s", err, got, worker.Output())
	}
	want := []string{
		"scan.vision started", "scan.vision progress", "scan.vision progress", "scan.vision succeeded",
		"scan.rule started", "scan.rule succeeded", "scan.answer started", "scan.answer succeeded",
		"scan.reward started", "scan.reward succeeded",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if last["final"] != true || last["progress"] != 100.0 {
		t.Fatalf("last event %v, want final at 100 %%", last)
	}
}

// TestRaffleJavaExample compiles examples/raffle-java with the Java client and runs it against
// a gateway with the example's herald.yaml: a viewer of raffle:7 gets the odds after every
// entry and the draw as the final event, which ends its stream.
func TestRaffleJavaExample(t *testing.T) {
	javac := testserver.RequireBinary(t, "javac", "default-jdk-headless")
	java := testserver.RequireBinary(t, "java", "default-jdk-headless")
	dir, _ := filepath.Abs("raffle-java")
	out := t.TempDir()
	var sources []string
	for _, root := range []string{filepath.Join(dir, "src", "main", "java"), filepath.Join(dir, "..", "..", "clients", "java", "src", "main", "java")} {
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(p, ".java") {
				sources = append(sources, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	run(t, dir, 120*time.Second, javac, append([]string{"-Xlint:all", "-Werror", "-d", out}, sources...)...)

	url := gateway(t, loadConfig(t, filepath.Join(dir, "herald.yaml")))
	port := testserver.FreePort(t)
	app := testserver.StartProcess(t, dir, []string{"HERALD_URL=" + url, "HERALD_API_KEY=" + apiKey, "PORT=" + strconv.Itoa(port)},
		java, "-cp", out+string(os.PathListSeparator)+filepath.Join(dir, "src", "main", "resources"), "example.raffle.RaffleApp")
	app.WaitOutput(t, "listening on", 30*time.Second)
	base := "http://127.0.0.1:" + strconv.Itoa(port)

	if status, page := get(t, base+"/raffles/7"); status != 200 || !strings.Contains(page, `topic=raffle:" + raffle`) {
		t.Fatalf("GET /raffles/7: %d\n%s", status, page)
	}
	badInput := []struct{ path, body, code string }{
		{"/raffles/7/entries", "memberId=abc", "invalid_form"},
		{"/raffles/x/entries", "memberId=1", "not_found"},
		{"/raffles/8/draw", "", "raffle_closed"},
	}
	for _, c := range badInput {
		if _, body := post(t, base+c.path, "application/x-www-form-urlencoded", c.body); !strings.Contains(body, c.code) {
			t.Errorf("POST %s %q: %s, want %s", c.path, c.body, body, c.code)
		}
	}

	// The viewer connects first (the raffle namespace does not replay); the entries follow
	// once a greeting published until it arrives shows that its stream is open.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, err := client.NewSubscriber(url, []string{"raffle:7"})
	if err != nil {
		t.Fatal(err)
	}
	type odds struct {
		Raffle  int     `json:"raffle"`
		Entries int     `json:"entries"`
		Odds    float64 `json:"odds"`
		Winner  int     `json:"winner"`
	}
	var got []string
	done := make(chan error, 1)
	connected := make(chan struct{})
	go func() {
		done <- sub.Run(ctx, func(m client.Message) error {
			var o odds
			if err := json.Unmarshal(m.Data, &o); err != nil {
				return err
			}
			if m.Event == "hello" {
				close(connected)
				return nil
			}
			got = append(got, fmt.Sprintf("%s %d %d %g %d", m.Event, o.Raffle, o.Entries, o.Odds, o.Winner))
			return nil
		})
	}()
	pub, err := client.NewPublisher(url, client.WithToken(apiKey))
	if err != nil {
		t.Fatal(err)
	}
	for ready := false; !ready; {
		if _, err := pub.Publish(ctx, client.Event{Topic: "raffle:7", Event: "hello", Data: map[string]int{}}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-connected:
			ready = true
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("viewer never connected")
		}
	}
	for _, member := range []string{"11", "22", "22", "33"} {
		if status, body := post(t, base+"/raffles/7/entries", "application/x-www-form-urlencoded", "memberId="+member); status != 200 {
			t.Fatalf("entry of %s: %d %s", member, status, body)
		}
	}
	status, body := post(t, base+"/raffles/7/draw", "", "")
	if status != 200 {
		t.Fatalf("draw: %d %s", status, body)
	}
	if err := <-done; !errors.Is(err, client.ErrStreamEnded) {
		t.Fatalf("viewer: %v after %v\napp:\n%s", err, got, app.Output())
	}
	var drawn odds
	_ = json.Unmarshal([]byte(body), &drawn)
	want := []string{"odds 7 1 1 0", "odds 7 2 0.5 0", "odds 7 2 0.5 0", "odds 7 3 0.3333 0", fmt.Sprintf("drawn 7 0 0 %d", drawn.Winner)}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("viewer got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if status, body := post(t, base+"/raffles/7/entries", "application/x-www-form-urlencoded", "memberId=44"); status != 409 || !strings.Contains(body, "raffle_closed") {
		t.Fatalf("entry after the draw: %d %s", status, body)
	}
}
