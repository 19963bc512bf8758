// Package client is the Go SDK of the Herald push gateway.
//
// A Publisher posts events to a gateway's /v1/publish endpoint and returns the ids the
// gateway assigned. A Subscriber reads a gateway's /v1/events stream the way a browser's
// EventSource does, and more carefully: it remembers the last event id it saw (including
// ids the gateway hands over in blocks without data), reconnects with it after network
// errors and ended streams so that every event arrives exactly once, waits as long as the
// server's retry: line asks (with backoff and jitter on repeated failures), surfaces the
// gateway's "reset" events so the application can refetch its state, and stops for good
// when the gateway answers 204 No Content (all its topics are closed by a final event).
//
// Both take the gateway's base URL (e.g. "http://127.0.0.1:8080") and Options; an Option
// that does not concern one of them is ignored by it.
package client

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of the options.
const (
	// DefaultRetry is the reconnection delay until the server sends a retry: line.
	DefaultRetry = 2 * time.Second
	// DefaultMaxRetryDelay caps the reconnection delay, whatever the server or the backoff
	// ask for.
	DefaultMaxRetryDelay = 30 * time.Second
	// maxErrorBody bounds how much of an error answer is read.
	maxErrorBody = 64 << 10
)

// SentTimeHeader is the request header in which a Publisher sends its send time in Unix
// nanoseconds; the gateway uses it for its publish→delivery latency metric.
const SentTimeHeader = "X-Herald-Sent-Time"

// Earliest, given to WithLastEventID, asks the gateway to replay each topic's whole
// retained history.
const Earliest = "earliest"

// Option configures a Publisher or a Subscriber.
type Option func(*options)

type options struct {
	httpClient    *http.Client
	token         string
	lastEventID   string
	maxRetryDelay time.Duration
	idleTimeout   time.Duration
	logger        *slog.Logger
}

func newOptions(opts []Option) options {
	o := options{maxRetryDelay: DefaultMaxRetryDelay}
	for _, opt := range opts {
		opt(&o)
	}
	if o.httpClient == nil {
		// No Client.Timeout: it would cut every long-lived stream.
		o.httpClient = &http.Client{}
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// WithHTTPClient makes requests with c instead of a client of http.DefaultTransport. A
// Subscriber's c must not set Client.Timeout, which would end every stream after it.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithToken sends token as "Authorization: Bearer <token>" (a JWT or an API key).
func WithToken(token string) Option { return func(o *options) { o.token = token } }

// WithLastEventID makes a Subscriber start after the event with this id instead of at the
// live edge (or at what the topic's namespace replays by default); Earliest replays all
// retained history. Subscriber only.
func WithLastEventID(id string) Option { return func(o *options) { o.lastEventID = id } }

// WithMaxRetryDelay caps the delay between reconnections (default DefaultMaxRetryDelay).
// Subscriber only.
func WithMaxRetryDelay(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.maxRetryDelay = d
		}
	}
}

// WithIdleTimeout makes a Subscriber drop and reopen a connection on which nothing (not
// even a heartbeat comment) arrived for d, which catches peers that vanished without
// closing the connection. Choose d well above the gateway's --heartbeat (e.g. three times
// it). The default, 0, waits forever. Subscriber only.
func WithIdleTimeout(d time.Duration) Option { return func(o *options) { o.idleTimeout = d } }

// WithLogger logs reconnections and their reasons to l (default: nothing is logged).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Error is an error answer of the gateway: a status of 400 or more, with the JSON body
// {"error": "...", "code": "..."} the gateway sends (Code is "" when the body was not
// such JSON, and Message then holds the start of the body).
type Error struct {
	Status  int    // HTTP status code
	Code    string // machine-readable error code, e.g. "invalid_topic"
	Message string // human-readable message
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "herald: %d %s", e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		b.WriteString(" (" + e.Code + ")")
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// Temporary reports whether the request may succeed when tried again later: true for 5xx,
// 408 and 429 answers.
func (e *Error) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout
}

// readError builds an *Error from an error answer, reading at most maxErrorBody of it.
func readError(resp *http.Response) *Error {
	e := &Error{Status: resp.StatusCode}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var j struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	if json.Unmarshal(body, &j) == nil && (j.Error != "" || j.Code != "") {
		e.Code, e.Message = j.Code, j.Error
		return e
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	e.Message = msg
	return e
}

// endpoint joins the base URL and an absolute path, keeping any path prefix of the base
// (a gateway mounted under /push/ is reached at /push/v1/...).
func endpoint(baseURL, path string) (*url.URL, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("herald: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("herald: base URL %q: scheme must be http or https", baseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("herald: base URL %q has no host", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath = ""
	return u, nil
}

func (o *options) authorize(req *http.Request) {
	if o.token != "" {
		req.Header.Set("Authorization", "Bearer "+o.token)
	}
}
