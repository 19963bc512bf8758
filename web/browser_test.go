package web_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/internal/browsertest"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/metrics"
	"github.com/heraldpush/herald/server"
	"github.com/heraldpush/herald/web"
)

// These tests click through the pages in headless Chromium, end to end: the web Handler is
// mounted on a real Herald server (server.New over the memory engine) on a loopback port, so
// the page's EventSource talks to the real /v1/events, with its replay, resume, final events
// and 204s.

// stack is a Herald node with the web pages mounted, behind one httptest server.
type stack struct {
	URL string
	ts  *httptest.Server
	lis *testserver.TrackingListener
	// streams counts the stream requests (GET /v1/events) the node received.
	streams atomic.Int32
}

func startStack(t *testing.T, step time.Duration) *stack {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := server.Config{Retry: 500 * time.Millisecond, Drain: 100 * time.Millisecond}
	eng := memory.New(memory.Options{Retention: cfg.Retention})
	srv, err := server.New(cfg, eng, server.Options{Logger: log, EngineName: "memory", Metrics: metrics.New(metrics.Options{})})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("server Start: %v", err)
	}
	h := web.New(web.Options{Publish: eng.Publish, Logger: log, StepInterval: step})
	srv.Handle("/", h)
	s := &stack{}
	next := srv.Handler()
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/events" {
			s.streams.Add(1)
		}
		next.ServeHTTP(w, r)
	}))
	// Track every accepted socket: streams are hijacked off net/http once they are live, so
	// only the sockets themselves can be cut.
	s.lis = testserver.Track(s.ts.Listener)
	s.ts.Listener = s.lis
	s.ts.Start()
	s.URL = s.ts.URL
	t.Cleanup(func() {
		_ = h.Close() // pipelines first: they publish through the engine
		srv.Close()
		s.Cut() // open streams would hold Close otherwise
		s.ts.Close()
		_ = eng.Close()
	})
	return s
}

// Cut drops every client connection from the server side, as a proxy restart would.
func (s *stack) Cut() {
	s.ts.CloseClientConnections()
	s.lis.CloseAll()
}

// testWriter sends log output to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// scanEvent mirrors an entry of heraldDemo.scan.received.
type scanEvent struct {
	ID       string `json:"id"`
	Step     string `json:"step"`
	Status   string `json:"status"`
	Progress int    `json:"progress"`
}

// scanReport is what the tests read back from the page after a scan.
type scanReport struct {
	Received   []scanEvent `json:"received"`
	Progress   int         `json:"progress"`
	Dups       int         `json:"dups"`
	Reconnects int         `json:"reconnects"`
	Status     string      `json:"status"`
	Pct        string      `json:"pct"`
	StepStates []string    `json:"stepStates"`
	Conn       string      `json:"conn"`
}

const scanReportJS = `({
	received: heraldDemo.scan.received,
	progress: heraldDemo.scan.progress,
	dups: heraldDemo.scan.dups,
	reconnects: heraldDemo.scan.reconnects,
	status: heraldDemo.scan.status,
	pct: document.getElementById('scan-pct').textContent,
	stepStates: [...document.querySelectorAll('.step')].map(li => li.dataset.step + ':' + li.dataset.state),
	conn: document.getElementById('scan-conn').dataset.state,
})`

// wantScanSequence is every event of a scan, in order, exactly once.
var wantScanSequence = []string{
	"vision:processing", "vision:completed",
	"rule:processing", "rule:completed",
	"answer:processing", "answer:completed",
	"reward:processing", "reward:completed",
}

// checkScan asserts that the page saw the whole pipeline exactly once, in order, and ended.
func checkScan(t *testing.T, r scanReport) {
	t.Helper()
	var got []string
	ids := map[string]bool{}
	for _, e := range r.Received {
		got = append(got, e.Step+":"+e.Status)
		if ids[e.ID] {
			t.Errorf("event id %s applied twice", e.ID)
		}
		ids[e.ID] = true
	}
	if strings.Join(got, " ") != strings.Join(wantScanSequence, " ") {
		t.Errorf("events seen by the page:\n got %v\nwant %v", got, wantScanSequence)
	}
	if r.Progress != 100 || r.Pct != "100%" {
		t.Errorf("progress = %d (%q), want 100", r.Progress, r.Pct)
	}
	if r.Status != "done" || r.Conn != "done" {
		t.Errorf("status = %q, connection = %q; want done, done", r.Status, r.Conn)
	}
	for _, s := range r.StepStates {
		if !strings.HasSuffix(s, ":completed") {
			t.Errorf("step state %s, want completed", s)
		}
	}
}

// barFull is true once the progress bar's transition has reached the end of its track.
const barFull = `(() => { const b = document.getElementById('scan-bar'); return b.getBoundingClientRect().width >= b.parentElement.getBoundingClientRect().width - 1; })()`

// run performs actions in the tab ctx, failing the test on the first error.
func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// eval evaluates a JavaScript expression in the tab ctx and decodes its value.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("browser: evaluate %.40q: %v", expr, err)
	}
	return v
}

// waitJS polls a JavaScript condition until it is truthy.
func waitJS(expr string, d time.Duration) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(50*time.Millisecond))
}

func TestBrowserLandingAndDashboard(t *testing.T) {
	b := browsertest.Start(t)
	s := startStack(t, time.Second)
	ctx, cancel := context.WithTimeout(b.Ctx, 60*time.Second)
	defer cancel()

	run(t, ctx,
		chromedp.Navigate(s.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("cta-demo")),
	)
	h1 := eval[string](t, ctx, `document.querySelector('h1').textContent`)
	origin := eval[string](t, ctx, `document.querySelector('[data-origin]').textContent`)
	ctas := eval[int](t, ctx, `document.querySelectorAll('.cta a').length`)
	if !strings.Contains(h1, "Push live updates") {
		t.Errorf("landing h1 = %q", h1)
	}
	if origin != s.URL {
		t.Errorf("curl snippet origin = %q, want %q", origin, s.URL)
	}
	if ctas != 2 {
		t.Errorf("landing has %d call-to-action links, want 2 (demo, dashboard)", ctas)
	}
	checkStyled(t, ctx)
	b.Screenshot(ctx, "landing")

	run(t, ctx,
		chromedp.Navigate(s.URL+"/dashboard"),
		chromedp.WaitVisible(chromedp.CSS("main")),
	)
	title := eval[string](t, ctx, `document.title`)
	if !strings.Contains(title, "Dashboard") {
		t.Errorf("dashboard title = %q", title)
	}
	// The dashboard is fed by the node's own stats stream: it goes live and shows this
	// node's figures (its own stream is one of the live connections).
	run(t, ctx, waitJS(`document.getElementById('conn').dataset.state === 'live' &&
		Number(document.getElementById('v-connections').textContent.replace(/[^0-9]/g, '')) >= 1`, 10*time.Second))
	b.Screenshot(ctx, "dashboard")
}

// checkStyled fails when herald.css did not load (the page would look like a debug dump).
func checkStyled(t *testing.T, ctx context.Context) {
	t.Helper()
	bg := eval[string](t, ctx, `getComputedStyle(document.querySelector('.topbar')).position`)
	if bg != "sticky" {
		t.Errorf("stylesheet not applied: .topbar position = %q", bg)
	}
}

func TestBrowserScanCompletes(t *testing.T) {
	b := browsertest.Start(t)
	s := startStack(t, 400*time.Millisecond)
	ctx, cancel := context.WithTimeout(b.Ctx, 60*time.Second)
	defer cancel()

	run(t, ctx,
		chromedp.Navigate(s.URL+"/demo"),
		chromedp.WaitVisible(chromedp.ID("scan-start")),
	)
	checkStyled(t, ctx)
	b.Screenshot(ctx, "idle")
	run(t, ctx,
		chromedp.Click(chromedp.ID("scan-start")),
		waitJS(`heraldDemo.scan.received.some(e => e.step === 'answer' && e.status === 'processing')`, 20*time.Second),
	)
	b.Screenshot(ctx, "running")
	run(t, ctx, waitJS(`heraldDemo.scan.done`, 20*time.Second))
	r := eval[scanReport](t, ctx, scanReportJS)
	checkScan(t, r)
	run(t, ctx, waitJS(barFull, 5*time.Second))
	if r.Dups != 0 {
		t.Errorf("%d duplicates reached the page without any reconnect", r.Dups)
	}
	b.Screenshot(ctx, "done")
}

// startScanUntil opens the demo on a slow pipeline (700 ms a step), starts a scan and
// waits until the page has received step's event with status.
func startScanUntil(t *testing.T, ctx context.Context, s *stack, step, status string) {
	t.Helper()
	run(t, ctx,
		chromedp.Navigate(s.URL+"/demo"),
		chromedp.WaitVisible(chromedp.ID("scan-start")),
		chromedp.Click(chromedp.ID("scan-start")),
		waitJS(`heraldDemo.scan.received.some(e => e.step === '`+step+`' && e.status === '`+status+`')`, 20*time.Second),
	)
}

func TestBrowserScanSurvivesDropButton(t *testing.T) {
	b := browsertest.Start(t)
	s := startStack(t, 700*time.Millisecond)
	ctx, cancel := context.WithTimeout(b.Ctx, 60*time.Second)
	defer cancel()

	startScanUntil(t, ctx, s, "vision", "completed")
	run(t, ctx,
		chromedp.Click(chromedp.ID("scan-drop")),
		waitJS(`document.getElementById('scan-conn').dataset.state === 'dropped'`, 5*time.Second),
	)
	b.Screenshot(ctx, "dropped")
	checkResumedScan(t, ctx, s, "the drop")
	b.Screenshot(ctx, "resumed")
}

func TestBrowserScanSurvivesServerCut(t *testing.T) {
	b := browsertest.Start(t)
	s := startStack(t, 700*time.Millisecond)
	ctx, cancel := context.WithTimeout(b.Ctx, 60*time.Second)
	defer cancel()

	startScanUntil(t, ctx, s, "rule", "processing")
	s.Cut() // the server drops every stream; EventSource reconnects with Last-Event-ID
	checkResumedScan(t, ctx, s, "the cut")
	b.Screenshot(ctx, "done")
}

// checkResumedScan waits for the scan to finish after a connection loss and checks that
// every step still arrived exactly once and that the browser really reconnected.
func checkResumedScan(t *testing.T, ctx context.Context, s *stack, loss string) {
	t.Helper()
	run(t, ctx, waitJS(`heraldDemo.scan.done`, 30*time.Second))
	r := eval[scanReport](t, ctx, scanReportJS)
	checkScan(t, r)
	if r.Reconnects < 1 {
		t.Errorf("reconnects = %d, want the browser's own reconnect after %s", r.Reconnects, loss)
	}
	if n := int(s.streams.Load()); n < 2 {
		t.Errorf("node received %d stream requests, want a second one after %s", n, loss)
	}
	run(t, ctx, waitJS(barFull, 5*time.Second))
}

func TestBrowserRaffleBroadcastsToTabs(t *testing.T) {
	b := browsertest.Start(t)
	s := startStack(t, time.Second)
	ctx, cancel := context.WithTimeout(b.Ctx, 60*time.Second)
	defer cancel()
	tabA := ctx
	tabB, cancelB := context.WithTimeout(b.NewTab(), 60*time.Second)
	defer cancelB()

	live := waitJS(`document.getElementById('raffle-conn').dataset.state === 'live'`, 15*time.Second)
	for _, tab := range []context.Context{tabA, tabB} {
		run(t, tab,
			chromedp.Navigate(s.URL+"/demo#raffle"),
			chromedp.WaitVisible(chromedp.ID("raffle-enter")),
			live,
		)
	}
	run(t, tabA, chromedp.Click(chromedp.ID("raffle-enter")), waitJS(`heraldDemo.raffle.updates >= 1`, 10*time.Second))
	run(t, tabB, chromedp.Click(chromedp.ID("raffle-enter")), waitJS(`heraldDemo.raffle.updates >= 2`, 10*time.Second))
	run(t, tabA, chromedp.Click(chromedp.ID("raffle-enter")))

	type view struct {
		Entries  string `json:"entries"`
		Odds     string `json:"odds"`
		Entrants string `json:"entrants"`
		Name     string `json:"name"`
	}
	const viewJS = `({
		entries: document.getElementById('raffle-entries').textContent,
		odds: document.getElementById('raffle-odds').textContent,
		entrants: JSON.stringify(heraldDemo.raffle.state.entrants),
		name: heraldDemo.raffle.name,
	})`
	var views [2]view
	for i, tab := range []context.Context{tabA, tabB} {
		run(t, tab, waitJS(`document.getElementById('raffle-entries').textContent === '3'`, 10*time.Second))
		views[i] = eval[view](t, tab, viewJS)
	}
	a, bv := views[0], views[1]
	if a.Entrants != bv.Entrants {
		t.Errorf("tabs disagree on the odds:\nA %s\nB %s", a.Entrants, bv.Entrants)
	}
	if a.Name == bv.Name || a.Name == "" || bv.Name == "" {
		t.Errorf("each tab should be its own entrant, got %q and %q", a.Name, bv.Name)
	}
	if a.Odds != "66.7%" || bv.Odds != "33.3%" {
		t.Errorf("odds shown: A %s, B %s; want 66.7%% and 33.3%%", a.Odds, bv.Odds)
	}
	b.Screenshot(tabA, "tabA")
	b.Screenshot(tabB, "tabB")
}
