package js_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/browsertest"
)

// TestTokenRenewal streams for 20 s from the real `herald serve --jwt-leeway=-1ns` with
// tokens that live 5 s, the server ending a stream at its token's exp: the library must fetch
// a new token before each expiry and reopen with the cursor, so that no event is lost and no
// request is refused.
func TestTokenRenewal(t *testing.T) {
	t.Parallel()
	n := startBinaryNode(t)
	b := browsertest.Start(t)
	tb := openTab(t, b, n.URL+"/t", "tab")
	tb.eval(t, `T.start({tokenURL: '/token'})`, nil)
	tb.subscribe(t, "s", "feed:1")
	waitConnections(t, n, 1)
	start := time.Now()
	for time.Since(start) < 20*time.Second {
		n.publish(t, false, "feed:1")
		time.Sleep(200 * time.Millisecond)
	}
	waitDelivered(t, n, []*tab{tb})
	var statuses []string
	tb.eval(t, "T.statuses", &statuses)
	mints, streams := n.mints.Load(), n.streams.Load()
	t.Logf("20 s stream, %d events delivered once in order; tokens minted %d, stream requests %d, refused %d, statuses %v",
		len(n.want("feed:1")["feed:1"]), mints, streams, n.denied.Load(), statuses)
	if mints < 4 {
		t.Errorf("tokens minted: %d, want at least 4 (the first and three renewals)", mints)
	}
	if d := n.denied.Load(); d != 0 {
		t.Errorf("%d stream requests refused: a token expired before it was renewed", d)
	}
	if slices.Contains(statuses, "reconnecting") {
		t.Errorf("statuses %v: the stream dropped instead of being renewed", statuses)
	}
}

// TestTokenRefused: a 401 makes the library call the token function once more; a good token
// then opens the stream, a second refusal is reported (onError, status "ended") and not
// retried.
func TestTokenRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		bad     int32
		refused int32
		wantErr bool
	}{
		{"renewed token accepted", 1, 1, false},
		{"refused twice", 100, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t, "a-test-signing-key-of-32-bytes!!")
			n.badKeys.Store(tc.bad)
			b := browsertest.Start(t)
			tb := openTab(t, b, n.URL+"/t", "tab")
			tb.eval(t, `T.start({tokenURL: '/token'})`, nil)
			tb.subscribe(t, "s", "feed:1")
			var st struct {
				Status string   `json:"status"`
				Errors []string `json:"errors"`
				Tokens int      `json:"tokens"`
			}
			waitFor(t, "live or ended", 20*time.Second, func() (bool, error) {
				tb.eval(t, `({status: T.status, errors: T.errors, tokens: T.tokens})`, &st)
				return st.Status == "live" || st.Status == "ended", nil
			})
			if tc.wantErr {
				if st.Status != "ended" || len(st.Errors) != 1 || !strings.Contains(st.Errors[0], "401") {
					t.Errorf("status %q, errors %v; want ended and one 401 error", st.Status, st.Errors)
				}
			} else {
				n.publish(t, false, "feed:1", "feed:1")
				waitDelivered(t, n, []*tab{tb})
				if st.Status != "live" || len(st.Errors) != 0 {
					t.Errorf("status %q, errors %v; want live, none", st.Status, st.Errors)
				}
			}
			if st.Tokens != 2 || n.denied.Load() != tc.refused || n.streams.Load() != 2 {
				t.Errorf("token calls %d, requests %d, refused %d; want 2, 2, %d", st.Tokens, n.streams.Load(), n.denied.Load(), tc.refused)
			}
			t.Logf("%s: token function called %d times, %d of %d requests refused, status %s, errors %v",
				tc.name, st.Tokens, n.denied.Load(), n.streams.Load(), st.Status, st.Errors)
		})
	}
}

// TestForbiddenTopicDoesNotStopOthers: one tab subscribes to a topic its token may not read,
// which makes the server refuse the shared stream. The library asks about each topic alone,
// reports the refused one to its subscription, and reopens for the others. A topic name the
// server could never accept is refused at subscribe, before it reaches the stream.
func TestForbiddenTopicDoesNotStopOthers(t *testing.T) {
	t.Parallel()
	n := startNode(t, "a-test-signing-key-of-32-bytes!!")
	b := browsertest.Start(t)
	ok := openTab(t, b, n.URL+"/t", "ok-tab")
	bad := openTab(t, b, n.URL+"/t", "bad-tab")
	for _, tb := range []*tab{ok, bad} {
		tb.eval(t, `T.start({tokenURL: '/token'})`, nil)
	}
	var thrown string
	bad.eval(t, `(() => { try { T.h.subscribe(['has space']); return 'no error' } catch (e) { return e.name } })()`, &thrown)
	if thrown != "TypeError" {
		t.Errorf("subscribe to a malformed topic: %s, want a TypeError", thrown)
	}
	ok.subscribe(t, "s", "feed:1")
	bad.subscribe(t, "s", "secret:1") // the token allows feed:* only
	waitFor(t, "the refused topic reported", 20*time.Second, func() (bool, error) {
		var errs []string
		bad.eval(t, "T.errors", &errs)
		return len(errs) == 1 && strings.Contains(errs[0], "403"), nil
	})
	waitConnections(t, n, 1)
	n.publish(t, false, "feed:1", "feed:1", "feed:1")
	waitDelivered(t, n, []*tab{ok})
	var errs, got []string
	ok.eval(t, "T.errors", &errs)
	bad.eval(t, "T.got.s", &got)
	if len(errs) != 0 || len(got) != 0 {
		t.Errorf("the other tab got errors %v; the refused subscription got events %v", errs, got)
	}
	t.Logf("forbidden topic: its subscription got onError (403), the other tab's stream went on (%d requests, %d refused)",
		n.streams.Load(), n.denied.Load())
}
