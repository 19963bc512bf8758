package web_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/internal/browsertest"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/server"
)

// h2Page opens two EventSources on the page's origin and records their events.
const h2Page = `<!doctype html><meta charset="utf-8"><title>h2</title><script>
window.got = {a: [], b: []};
window.es = {};
let open = 0;
for (const k of ['a', 'b']) {
  const es = new EventSource('/v1/events?topic=h2b:' + k);
  window.es[k] = es;
  es.onmessage = e => window.got[k].push(e.data);
  es.onopen = () => { if (++open === 2) window.ready = true; };
}
window.publish = (topic, data) => fetch('/v1/publish', {method: 'POST',
  headers: {'Content-Type': 'application/json'}, body: JSON.stringify({topic, data})}).then(r => r.status);
</script>`

// Chromium over TLS with ALPN h2 on Herald's HTTP/2 engine (the default): two EventSources
// and the page's publishes share one HTTP/2 connection, each stream gets its own topic's
// events, and closing an EventSource (RST_STREAM) ends its stream on the node.
func TestBrowserEventSourceOverHTTP2Engine(t *testing.T) {
	cert, key, _ := testserver.SelfSignedCert(t)
	eng := memory.New(memory.Options{})
	srv, err := server.New(server.Config{TLSCert: cert, TLSKey: key, Drain: 100 * time.Millisecond}, eng,
		server.Options{EngineName: "memory"})
	if err != nil {
		t.Fatal(err)
	}
	srv.Handle("/h2page", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, h2Page)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln, nil) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		_ = eng.Close()
	})

	b := browsertest.Start(t, chromedp.Flag("ignore-certificate-errors", true))
	ctx, cancel := context.WithTimeout(b.Ctx, 60*time.Second)
	defer cancel()
	run(t, ctx,
		chromedp.Navigate("https://"+ln.Addr().String()+"/h2page"),
		waitJS(`window.ready === true`, 20*time.Second),
	)
	if p := eval[string](t, ctx, `performance.getEntriesByType('navigation')[0].nextHopProtocol`); p != "h2" {
		t.Fatalf("the page came over %q, want h2", p)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.Hub().Conns() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams on the node, want 2", srv.Hub().Conns())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, k := range []string{"a", "b"} {
		if st := publishFromPage(t, ctx, `publish('h2b:`+k+`', 'for `+k+`')`); st != http.StatusOK {
			t.Fatalf("publish from the page: %d", st)
		}
	}
	run(t, ctx, waitJS(`got.a.length === 1 && got.b.length === 1`, 10*time.Second))
	if a, bb := eval[string](t, ctx, `got.a[0]`), eval[string](t, ctx, `got.b[0]`); a != "for a" || bb != "for b" {
		t.Fatalf("got a %q, b %q", a, bb)
	}
	_ = eval[bool](t, ctx, `(window.es.a.close(), true)`)
	deadline = time.Now().Add(10 * time.Second)
	for srv.Hub().Conns() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams on the node after EventSource.close, want 1", srv.Hub().Conns())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := publishFromPage(t, ctx, `publish('h2b:b', 'again')`); st != http.StatusOK {
		t.Fatalf("publish from the page: %d", st)
	}
	run(t, ctx, waitJS(`got.b.length === 2 && got.b[1] === 'again'`, 10*time.Second))
}

// publishFromPage runs the page's publish call and returns the answer's status.
func publishFromPage(t *testing.T, ctx context.Context, expr string) int {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("browser: %s: %v", expr, err)
	}
	return v
}
