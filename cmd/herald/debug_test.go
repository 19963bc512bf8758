package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testserver"
)

// TestDebugAddrShowsTheDrain runs the serve command with --debug-addr and twenty open
// streams, cancels it (SIGTERM in the binary) and scrapes the debug address while the
// streams drain over two seconds: it must answer with herald_draining 1, though the main
// listener is closed by then.
func TestDebugAddrShowsTheDrain(t *testing.T) {
	debug := "127.0.0.1:" + strconv.Itoa(testserver.FreePort(t))
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, []string{"--addr", "127.0.0.1:0", "--drain", "2s", "--debug-addr", debug}, io.Discard, logs)
	}()
	re := regexp.MustCompile(`msg="herald is serving" url=(http://[0-9.:]+)`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			base = m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no start-up line; logs:\n%s", logs)
		}
	}
	scrape := func() (string, error) {
		c := &http.Client{Timeout: time.Second}
		resp, err := c.Get("http://" + debug + "/metrics")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if body, err := scrape(); err != nil || !strings.Contains(body, "herald_draining 0") {
		t.Fatalf("debug /metrics before the drain: %v, want herald_draining 0 in\n%.500s", err, body)
	}
	for i := range 20 {
		resp, err := http.Get(base + "/v1/events?topic=drain:" + strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if line, _ := bufio.NewReader(resp.Body).ReadString('\n'); !strings.HasPrefix(line, ":") {
			t.Fatalf("stream starts with %q", line)
		}
	}
	cancel()
	seen := false
	for !seen {
		select {
		case err := <-done:
			t.Fatalf("serve returned (%v) before a scrape of the debug address saw herald_draining 1", err)
		default:
		}
		if body, err := scrape(); err == nil && strings.Contains(body, "herald_draining 1") {
			seen = true
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := http.Get(base + "/metrics"); err == nil {
		t.Error("the main listener still answers during the drain")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not return within 20s of cancellation")
	}
	if _, err := scrape(); err == nil {
		t.Error("the debug address still answers after serve returned")
	}
}
