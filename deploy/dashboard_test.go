package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/internal/gatewaytest"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/metrics"
	"github.com/heraldpush/herald/server"
	"github.com/heraldpush/herald/webhook"
)

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	Title  string `json:"title"`
	Panels []struct {
		ID      int    `json:"id"`
		Type    string `json:"type"`
		Title   string `json:"title"`
		GridPos struct {
			H, W, X, Y int
		} `json:"gridPos"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name string `json:"name"`
		} `json:"list"`
	} `json:"templating"`
}

// ruleFile is the part of a Prometheus rule file the test reads.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record string `yaml:"record"`
			Alert  string `yaml:"alert"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// grafanaVars are what Grafana puts in place of the dashboard's variables when "All" is
// selected; $__rate_interval becomes a window that holds several of the test's scrapes.
var grafanaVars = strings.NewReplacer(`$job`, `.*`, `$instance`, `.*`, `$__rate_interval`, `1m`)

// TestDashboardAndRulesOnRealPrometheus starts a real Herald under a little traffic and a
// real Prometheus scraping it every second with herald-rules.yml loaded, waits for a few
// scrapes, then runs every dashboard panel's query and every rule's expression through
// Prometheus's HTTP API: each must parse, and every panel and recording rule must return
// series (no dead panels).
func TestDashboardAndRulesOnRealPrometheus(t *testing.T) {
	raw, err := os.ReadFile("grafana/herald-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash dashboard
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	raw, err = os.ReadFile("prometheus/herald-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules ruleFile
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("rules YAML: %v", err)
	}

	herald := startHerald(t)
	ctx, stop := context.WithCancel(context.Background())
	traffic := runTraffic(ctx, t, herald)
	t.Cleanup(func() { stop(); traffic.Wait() })

	prom := testserver.Prometheus(t, fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files: [herald-rules.yml]
scrape_configs:
  - job_name: herald
    static_configs:
      - targets: [%q]
`, herald), "prometheus/herald-rules.yml")

	// Wait (bounded) until Prometheus holds several scrapes of Herald, so that rate() over
	// 1m has points to work with.
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := query(prom.URL(), `count_over_time(herald_connections{job="herald"}[1m])`)
		if err == nil && len(res) == 1 && res[0].value() >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus did not hold 4 scrapes of Herald within 30s (last: %v, %v)\n%s", res, err, prom.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Every metric a query names must be one Herald (or its Go/process collectors) exports.
	names := map[string]bool{}
	res, err := query(prom.URL(), `count by (__name__) ({job="herald"})`)
	if err != nil {
		t.Fatalf("metric names: %v", err)
	}
	for _, s := range res {
		names[s.Metric["__name__"]] = true
	}
	if !names["herald_connections"] || !names["go_goroutines"] {
		t.Fatalf("Prometheus holds no Herald metrics: %v", names)
	}
	// A name followed by ':' is part of a recording rule's name, not a metric.
	metricName := regexp.MustCompile(`\b(herald_[a-z_]+|go_[a-z_]+|process_[a-z_]+)\b(:?)`)
	checkNames := func(where, expr string) {
		for _, m := range metricName.FindAllStringSubmatch(expr, -1) {
			if m[2] == "" && !names[m[1]] {
				t.Errorf("%s: metric %s is not exported by Herald", where, m[1])
			}
		}
	}

	panels, queries := 0, 0
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] || p.ID == 0 {
			t.Errorf("panel %q: id %d missing or used twice", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v does not fit Grafana's 24 columns", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		panels++
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			queries++
			expr := grafanaVars.Replace(tg.Expr)
			checkNames("panel "+p.Title, expr)
			res, err := query(prom.URL(), expr)
			switch {
			case err != nil:
				t.Errorf("panel %q: %s: %v", p.Title, expr, err)
			case len(res) == 0:
				t.Errorf("panel %q: %s returned no series (a dead panel)", p.Title, expr)
			}
		}
	}
	if panels < 20 {
		t.Errorf("%d panels, want the full dashboard", panels)
	}
	t.Logf("%d panels, %d queries run through Prometheus", panels, queries)

	records, alerts := 0, 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			checkNames("rule "+r.Record+r.Alert, r.Expr)
			res, err := query(prom.URL(), r.Expr)
			if err != nil {
				t.Errorf("rule %s%s: %v", r.Record, r.Alert, err)
				continue
			}
			if r.Record != "" {
				records++
				if len(res) == 0 {
					t.Errorf("recording rule %s returned no series", r.Record)
				}
			} else {
				alerts++
			}
		}
	}
	// Prometheus loaded the file and evaluates it without errors.
	var rs struct {
		Data struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := getJSON(prom.URL()+"/api/v1/rules", &rs); err != nil {
		t.Fatalf("rules API: %v", err)
	}
	loaded := 0
	for _, g := range rs.Data.Groups {
		for _, r := range g.Rules {
			loaded++
			if r.Health == "err" {
				t.Errorf("rule %s in %s: %s", r.Name, g.Name, r.LastError)
			}
		}
	}
	if loaded != records+alerts {
		t.Errorf("Prometheus loaded %d rules, the file has %d", loaded, records+alerts)
	}
	t.Logf("%d recording rules and %d alert expressions run, %d rules loaded", records, alerts, loaded)
}

// startHerald serves a Herald node with metrics, presence and an offline webhook (to a
// real loopback HTTP receiver) and returns its address.
func startHerald(t *testing.T) string {
	t.Helper()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)
	cfg := server.Config{
		Heartbeat: time.Second,
		Namespaces: map[string]server.Namespace{
			"user": {NamespacePresence: server.NamespacePresence{
				Personal:       true,
				OfflineWebhook: &webhook.Target{URL: hook.URL, Secret: "dashboard-test-secret"},
			}},
		},
	}
	eng := memory.New(memory.Options{})
	met := metrics.New(metrics.Options{Version: "test"})
	srv, err := server.New(cfg, eng, server.Options{EngineName: "memory", Metrics: met})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	return gatewaytest.Serve(t, srv, eng)
}

// runTraffic keeps a little of everything going until ctx ends: open streams, one that
// ends (a disconnect and a lifetime), one with a malformed cursor (a reset), a publish
// every 100 ms, a bad topic (an error code) and events for an offline user (webhook).
func runTraffic(ctx context.Context, t *testing.T, addr string) *sync.WaitGroup {
	base := "http://" + addr
	var wg sync.WaitGroup
	stream := func(query string, hold time.Duration) {
		defer wg.Done()
		sctx, cancel := context.WithTimeout(ctx, hold)
		defer cancel()
		req, _ := http.NewRequestWithContext(sctx, http.MethodGet, base+"/v1/events?"+query, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			if ctx.Err() == nil && sctx.Err() == nil {
				t.Errorf("stream %s: %v", query, err)
			}
			return
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
	}
	for range 3 {
		wg.Add(1)
		go stream("topic=room:1&topic=room:2", time.Hour)
	}
	wg.Add(2)
	go stream("topic=room:3", 500*time.Millisecond)
	go stream("topic=room:1&lastEventID="+url.QueryEscape("not-a-cursor"), time.Hour)

	post := func(body string) int {
		resp, err := http.Post(base+"/v1/publish", "application/json", strings.NewReader(body))
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("publish: %v", err)
			}
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			post(fmt.Sprintf(`{"topic":"room:1","event":"tick","data":%d}`, i))
			if i%10 == 0 {
				post(`{"topic":"user:42","event":"ping","data":"offline"}`) // → webhook
				post(`{"topic":"no spaces allowed","data":1}`)              // invalid_topic
			}
		}
	}()
	return &wg
}

// sample is one series of an instant query's answer.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s sample) value() float64 {
	str, _ := s.Value[1].(string)
	v, _ := strconv.ParseFloat(str, 64)
	return v
}

// query runs an instant query through Prometheus's HTTP API.
func query(base, expr string) ([]sample, error) {
	var ans struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string   `json:"resultType"`
			Result     []sample `json:"result"`
		} `json:"data"`
	}
	if err := getJSON(base+"/api/v1/query?query="+url.QueryEscape(expr), &ans); err != nil {
		return nil, err
	}
	if ans.Status != "success" {
		return nil, fmt.Errorf("%s: %s", ans.ErrorType, ans.Error)
	}
	if ans.Data.ResultType != "vector" {
		return nil, fmt.Errorf("result type %s, want vector", ans.Data.ResultType)
	}
	return ans.Data.Result, nil
}

func getJSON(u string, v any) error {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w (%.300s)", u, err, body)
	}
	return nil
}
