package mercure_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldpush/herald/mercure"
	"github.com/heraldpush/herald/server"
)

// TestPublishRejects: authorization failures answer 401, malformed input 400, a topic inside
// /.well-known/mercure 403, an oversized body 413 — and nothing is published.
func TestPublishRejects(t *testing.T) {
	mc := mercureConfig()
	mc.MaxBodyBytes = 4 << 10
	mc.MaxTopics = 3
	n := newNode(t, mc)
	watch := subscribe(t, n.url, form("topic", "*"), nil)
	good := publisherToken(t)
	limited := token(t, pubKey, map[string]any{"publish": []string{"https://example.com/books/{id}"}})
	expired, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"exp": time.Now().Add(-time.Hour).Unix(), "mercure": map[string]any{"publish": []string{"*"}},
	}).SignedString([]byte(pubKey))
	topic := "https://example.com/books/1"
	cases := []struct {
		name   string
		tok    string
		form   url.Values
		status int
	}{
		{"no token", "", form("topic", topic, "data", "x"), 401},
		{"subscriber key", token(t, subKey, map[string]any{"publish": []string{"*"}}), form("topic", topic), 401},
		{"no publish claim", token(t, pubKey, map[string]any{"subscribe": []string{"*"}}), form("topic", topic), 401},
		{"no mercure claim", token(t, pubKey, nil), form("topic", topic), 401},
		{"expired", expired, form("topic", topic), 401},
		{"garbage token", "not.a.token", form("topic", topic), 401},
		{"topic not allowed", limited, form("topic", "https://example.com/users/1"), 401},
		{"alternate not allowed", limited, form("topic", topic, "topic", "https://example.com/users/1"), 401},
		{"missing topic", good, form("data", "x"), 400},
		{"too many topics", good, form("topic", "a", "topic", "b", "topic", "c", "topic", "d"), 400},
		{"reserved topic", good, form("topic", "https://example.com/.well-known/mercure/subscriptions/x"), 403},
		{"CR in id", good, form("topic", topic, "id", "a\rb"), 400},
		{"LF in id", good, form("topic", topic, "id", "a\nb"), 400},
		{"NUL in id", good, form("topic", topic, "id", "a\x00b"), 400},
		{"id starting with #", good, form("topic", topic, "id", "#1"), 400},
		{"LF in type", good, form("topic", topic, "type", "a\nb"), 400},
		{"NUL in type", good, form("topic", topic, "type", "a\x00"), 400},
		{"bad retry", good, form("topic", topic, "retry", "-1"), 400},
		{"retry not digits", good, form("topic", topic, "retry", "1s"), 400},
		{"control char in topic", good, form("topic", "a\nb"), 400},
		{"invalid UTF-8 data", good, form("topic", topic, "data", "\xff"), 400},
		{"body too large", good, form("topic", topic, "data", strings.Repeat("x", 5<<10)), 413},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if status, body := publish(t, n.url, c.tok, c.form); status != c.status {
				t.Fatalf("status %d (%s), want %d", status, body, c.status)
			}
		})
	}
	// Nothing of the above was published: the next event is the marker.
	marker := mustPublish(t, n.url, form("topic", topic, "data", "marker"))
	watch.nextIs(t, marker)
	if status, body := publish(t, n.url, limited, form("topic", topic, "data", "ok")); status != 200 {
		t.Fatalf("allowed template publish: %d %s", status, body)
	}
}

// TestPublishCookieOrigin: a publish authorised by the cookie needs an allowed Origin (or
// Referer); the Authorization header wins over the cookie.
func TestPublishCookieOrigin(t *testing.T) {
	mc := mercureConfig()
	mc.PublishOrigins = []string{"https://app.example.com"}
	n := newNode(t, mc)
	tok := publisherToken(t)
	cases := []struct {
		name   string
		hdr    http.Header
		status int
	}{
		{"no origin", http.Header{}, 401},
		{"allowed origin", http.Header{"Origin": {"https://app.example.com"}}, 200},
		{"allowed referer", http.Header{"Referer": {"https://app.example.com/page"}}, 200},
		{"other origin", http.Header{"Origin": {"https://evil.example.com"}}, 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, n.url+mercure.Path, strings.NewReader(form("topic", "t", "data", "d").Encode()))
			req.Header = c.hdr
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(&http.Cookie{Name: mercure.DefaultCookie, Value: tok})
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
		})
	}
}

// TestSubscribeRejects: a missing topic is 400; a required token missing or invalid is 401.
func TestSubscribeRejects(t *testing.T) {
	mc := mercureConfig()
	mc.Anonymous = false
	mc.MaxTopics = 2
	n := newNode(t, mc)
	good := "Bearer " + token(t, subKey, map[string]any{"subscribe": []string{"*"}})
	cases := []struct {
		name   string
		query  url.Values
		auth   string
		status int
	}{
		{"anonymous", form("topic", "x"), "", 401},
		{"publisher key", form("topic", "x"), "Bearer " + publisherToken(t), 401},
		{"not bearer", form("topic", "x"), "Basic eDp5", 401},
		{"missing topic", url.Values{}, good, 400},
		{"too many topics", form("topic", "a", "topic", "b", "topic", "c"), good, 400},
		{"control char", form("topic", "a\x01"), good, 400},
		{"ok", form("topic", "a"), good, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, n.url+mercure.Path+"?"+c.query.Encode(), nil)
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
		})
	}
}

// TestMercureLimits: the node's limits apply to the Mercure endpoint: open streams per
// address and the publish rate answer 429.
func TestMercureLimits(t *testing.T) {
	cfg := server.Config{Mercure: mercureConfig(), Limits: server.Limits{MaxConnsPerIP: 1, PublishRate: 0.001, PublishBurst: 1}}
	n := newNodeWith(t, cfg)
	subscribe(t, n.url, form("topic", "x"), nil)
	second := subscribe(t, n.url, form("topic", "x"), nil)
	if second.resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second stream from one address: %d, want 429", second.resp.StatusCode)
	}
	mustPublish(t, n.url, form("topic", "x", "data", "1"))
	if status, _ := publish(t, n.url, publisherToken(t), form("topic", "x", "data", "2")); status != http.StatusTooManyRequests {
		t.Fatalf("publish over the rate: %d, want 429", status)
	}
}

// TestCORSPreflight: an allowed origin gets the preflight answer EventSource with
// credentials needs; another origin gets no CORS headers.
func TestCORSPreflight(t *testing.T) {
	mc := mercureConfig()
	mc.CORSOrigins = []string{"https://app.example.com"}
	n := newNode(t, mc)
	for _, c := range []struct {
		origin string
		allow  string
	}{{"https://app.example.com", "https://app.example.com"}, {"https://evil.example.com", ""}} {
		req, _ := http.NewRequest(http.MethodOptions, n.url+mercure.Path, nil)
		req.Header.Set("Origin", c.origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "last-event-id, cache-control")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		if got := h.Get("Access-Control-Allow-Origin"); got != c.allow {
			t.Fatalf("origin %s: Allow-Origin %q, want %q", c.origin, got, c.allow)
		}
		if c.allow != "" && (h.Get("Access-Control-Allow-Credentials") != "true" ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "last-event-id") ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "cache-control") ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "authorization")) {
			t.Fatalf("preflight headers %v", h)
		}
	}
}
