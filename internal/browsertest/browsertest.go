// Package browsertest starts a headless Chromium for browser tests (driven by chromedp) and
// saves screenshots as test artifacts.
//
// A browser that cannot start is a test failure, never a skip: CI installs Debian's chromium
// package, and a green run must mean the pages were really exercised. Set HERALD_CHROME to use
// another binary, and HERALD_ARTIFACTS to keep screenshots after the run (otherwise they go to
// the test's temporary directory, whose path is logged).
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// StartTimeout bounds the browser's start-up.
const StartTimeout = 45 * time.Second

// candidates are the executable names tried, in order, when HERALD_CHROME is not set.
var candidates = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Browser is a running headless Chromium.
type Browser struct {
	// Ctx is the browser's first tab; derive timeouts from it, and more tabs with NewTab.
	Ctx context.Context
	tb  testing.TB
	dir string // artifacts directory
}

// Start launches a fresh headless Chromium (own user-data-dir, no sandbox since tests run as
// root, no background networking) and stops it when the test ends. It fails the test with a
// clear message when no browser is installed or it cannot start. extra adds allocator
// options (flags) to the defaults.
func Start(tb testing.TB, extra ...chromedp.ExecAllocatorOption) *Browser {
	tb.Helper()
	path := os.Getenv("HERALD_CHROME")
	if path == "" {
		for _, name := range candidates {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		tb.Fatalf("browsertest: no Chromium found (tried %v and $HERALD_CHROME); install it with `apt-get install -y chromium`", candidates)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
	}
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithLogf(tb.Logf))
	tb.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	// The first Do starts the browser, which lives as long as that call's context: bound the
	// start-up from outside instead of with a timeout on ctx.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			tb.Fatalf("browsertest: cannot start %s: %v (is the chromium package installed and runnable here?)", path, err)
		}
	case <-time.After(StartTimeout):
		cancelCtx()
		tb.Fatalf("browsertest: %s did not start within %v", path, StartTimeout)
	}
	return &Browser{Ctx: ctx, tb: tb, dir: artifactsDir(tb)}
}

// NewTab opens another tab in the same browser (same profile, separate page).
func (b *Browser) NewTab() context.Context {
	b.tb.Helper()
	ctx, cancel := chromedp.NewContext(b.Ctx)
	b.tb.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.tb.Fatalf("browsertest: open a tab: %v", err)
	}
	return ctx
}

// Screenshot saves a full-page PNG of the tab ctx as <artifacts>/<test>-<name>.png and logs
// its path. A failure to capture fails the test.
func (b *Browser) Screenshot(ctx context.Context, name string) string {
	b.tb.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.tb.Fatalf("browsertest: screenshot %s: %v", name, err)
	}
	p := filepath.Join(b.dir, safeName(b.tb.Name())+"-"+safeName(name)+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		b.tb.Fatalf("browsertest: save screenshot: %v", err)
	}
	b.tb.Logf("screenshot: %s", p)
	return p
}

// artifactsDir is $HERALD_ARTIFACTS (created when missing) or the test's temporary directory.
func artifactsDir(tb testing.TB) string {
	dir := os.Getenv("HERALD_ARTIFACTS")
	if dir == "" {
		return tb.TempDir()
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatalf("browsertest: create HERALD_ARTIFACTS %s: %v", dir, err)
	}
	return dir
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeName(s string) string { return unsafeChars.ReplaceAllString(s, "_") }
