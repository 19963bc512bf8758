package web_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldpush/herald/internal/browsertest"
)

// TestBrowserSharedStreamPanel opens the demo's "Shared stream" panel (herald.js) in five tabs:
// the node holds one connection, each page shows that count from /metrics, and a raffle entry
// reaches every tab once.
func TestBrowserSharedStreamPanel(t *testing.T) {
	b := browsertest.Start(t)
	s := startStack(t, time.Second)
	var tabs []context.Context
	for i := range 5 {
		tab := b.Ctx
		if i > 0 {
			tab = b.NewTab()
		}
		ctx, cancel := context.WithTimeout(tab, 60*time.Second)
		defer cancel()
		run(t, ctx,
			chromedp.Navigate(s.URL+"/demo#shared"),
			waitJS(`document.getElementById('shared-conn').dataset.state === 'live'`, 15*time.Second),
		)
		tabs = append(tabs, ctx)
	}
	for i, tab := range tabs {
		run(t, tab, waitJS(`document.getElementById('shared-connections').textContent === '1'`, 10*time.Second))
		if mode := eval[string](t, tab, `document.getElementById('shared-mode').textContent`); mode != "SharedWorker" {
			t.Errorf("tab %d: sharing %q, want SharedWorker", i, mode)
		}
	}
	res, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if m := regexp.MustCompile(`(?m)^herald_connections (\d+)$`).FindSubmatch(body); m == nil || string(m[1]) != "1" {
		t.Errorf("herald_connections = %q, want 1 for five tabs", m)
	}
	run(t, tabs[0], chromedp.Click(chromedp.ID("shared-enter")))
	run(t, tabs[3], chromedp.Click(chromedp.ID("shared-enter")))
	for _, tab := range tabs {
		run(t, tab, waitJS(`heraldShared.events() === 2`, 10*time.Second))
	}
	b.Screenshot(tabs[0], "shared")
	if n := eval[int](t, tabs[4], `heraldShared.events()`); n != 2 {
		t.Errorf("last tab saw %d raffle events, want 2", n)
	}
}
