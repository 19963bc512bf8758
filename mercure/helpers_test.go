package mercure_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/mercure"
	"github.com/heraldpush/herald/server"
	"github.com/heraldpush/herald/sse"
)

const (
	pubKey  = "!ChangeThisMercureHubJWTSecretKey!"
	subKey  = "subscriber-secret-of-32-bytes!!!"
	waitFor = 5 * time.Second
)

// node is a real Herald node with --mercure on a loopback HTTP server.
type node struct {
	srv *server.Server
	url string
}

// mercureConfig is the test's Mercure configuration: separate publisher and subscriber
// keys, anonymous subscribers allowed.
func mercureConfig() mercure.Config {
	return mercure.Config{Enabled: true, PublisherJWTKey: pubKey, SubscriberJWTKey: subKey, Anonymous: true}
}

func newNode(t *testing.T, mc mercure.Config) *node {
	t.Helper()
	return newNodeWith(t, server.Config{Mercure: mc})
}

// newNodeWith starts a node with a whole server configuration.
func newNodeWith(t *testing.T, cfg server.Config) *node {
	t.Helper()
	cfg.Drain = 100 * time.Millisecond
	eng := memory.New(memory.Options{Retention: cfg.Retention})
	srv, err := server.New(cfg, eng, server.Options{EngineName: "memory"})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.Close()
		ts.CloseClientConnections()
		ts.Close()
		eng.Close()
	})
	return &node{srv: srv, url: ts.URL}
}

// token mints an HS256 token with the given mercure claim (nil: none).
func token(t *testing.T, key string, claim map[string]any) string {
	t.Helper()
	c := jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}
	if claim != nil {
		c["mercure"] = claim
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func publisherToken(t *testing.T) string {
	return token(t, pubKey, map[string]any{"publish": []string{"*"}})
}

// publish posts a form and returns the status and body.
func publish(t *testing.T, base, tok string, form url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+mercure.Path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// mustPublish publishes and returns the update's id.
func mustPublish(t *testing.T, base string, form url.Values) string {
	t.Helper()
	status, body := publish(t, base, publisherToken(t), form)
	if status != http.StatusOK {
		t.Fatalf("publish %v: %d %s", form, status, body)
	}
	return body
}

// event is a received event with the stream's reconnection time after it.
type event struct {
	sse.Event
	Retry time.Duration
}

// stream is an open subscription.
type stream struct {
	resp   *http.Response
	events chan event
	cancel context.CancelFunc
}

// subscribe opens a subscription; hdr may set headers (Last-Event-ID, Authorization).
func subscribe(t *testing.T, base string, query url.Values, hdr http.Header) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+mercure.Path+"?"+query.Encode(), nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("subscribe: %v", err)
	}
	s := &stream{resp: resp, events: make(chan event, 100), cancel: cancel}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		return s
	}
	// The stream opens with a comment at once.
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != ":\n" {
		t.Fatalf("first line %q, %v; want the comment \":\\n\"", line, err)
	}
	go func() {
		defer close(s.events)
		r := sse.NewReader(br)
		for {
			ev, err := r.Next()
			if err != nil {
				return
			}
			ev.Data = append([]byte(nil), ev.Data...)
			retry, _ := r.Retry()
			s.events <- event{ev, retry}
		}
	}()
	return s
}

// next returns the next event or fails after waitFor.
func (s *stream) next(t *testing.T) event {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatal("stream ended")
		}
		return ev
	case <-time.After(waitFor):
		t.Fatal("no event within", waitFor)
	}
	return event{}
}

// none asserts that no event arrives before a marker update the caller published after:
// the next event must be the marker.
func (s *stream) nextIs(t *testing.T, id string) event {
	t.Helper()
	ev := s.next(t)
	if ev.ID != id {
		t.Fatalf("got event id %q (%s %q), want %q", ev.ID, ev.Name, ev.Data, id)
	}
	return ev
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}
