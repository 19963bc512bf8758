package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/sse"
)

// ErrStreamEnded is returned by Subscriber.Run when the gateway answered 204 No Content:
// every subscribed topic was closed by a final event that the subscriber already received
// (or the cursor is past it). Reconnecting would get the same answer, so the subscription
// is over. It is the normal end of a task's stream.
var ErrStreamEnded = errors.New("herald: stream ended: all topics are closed")

// errIdle cancels a connection on which nothing arrived for the idle timeout.
var errIdle = errors.New("herald: connection idle for too long")

// Message is an event received by a Subscriber.
type Message struct {
	// ID is the event's id: the subscription's cursor just after this event.
	ID string
	// Event is the event name; "" for events published without one.
	Event string
	// Data is the event's data (owned by the receiver).
	Data []byte
	// Reset reports a "reset" event: the gateway could not resume the subscription exactly
	// from its cursor (history expired or was lost), so events may have been missed. Data
	// says why. The application should refetch the state the events describe; the events
	// that follow are live again.
	Reset bool
}

// Subscriber reads a subscription to one or more topics of a Herald gateway, reconnecting
// with its cursor until the subscription ends. Use one Run at a time; LastEventID may be
// called concurrently.
type Subscriber struct {
	url   url.URL // the stream URL with its topic parameters
	start string  // WithLastEventID, sent until the gateway hands out an id
	opts  options

	mu     sync.Mutex
	lastID string // last id seen (from events and from blocks without data)
	haveID bool   // the gateway has handed out an id: send it instead of start
	retry  time.Duration
}

// NewSubscriber returns a Subscriber of topics at the gateway at baseURL. It uses the
// options WithHTTPClient, WithToken, WithLastEventID, WithMaxRetryDelay, WithIdleTimeout
// and WithLogger.
func NewSubscriber(baseURL string, topics []string, opts ...Option) (*Subscriber, error) {
	if len(topics) == 0 {
		return nil, fmt.Errorf("herald: subscribe: %w: no topic", herald.ErrInvalidTopic)
	}
	u, err := endpoint(baseURL, "/v1/events")
	if err != nil {
		return nil, err
	}
	q := u.Query()
	for _, t := range topics {
		if _, err := herald.ParseTopic(t); err != nil {
			return nil, fmt.Errorf("herald: subscribe to %q: %w", t, err)
		}
		q.Add("topic", t)
	}
	u.RawQuery = q.Encode()
	o := newOptions(opts)
	return &Subscriber{url: *u, start: o.lastEventID, opts: o, retry: DefaultRetry}, nil
}

// Subscribe subscribes to topics at the gateway at baseURL and calls fn with each event
// until ctx is done, fn fails or the subscription ends; see Subscriber.Run.
func Subscribe(ctx context.Context, baseURL string, topics []string, fn func(Message) error, opts ...Option) error {
	s, err := NewSubscriber(baseURL, topics, opts...)
	if err != nil {
		return err
	}
	return s.Run(ctx, fn)
}

// LastEventID returns the id of the last event handled (or handed out by the gateway
// without an event): the cursor a later subscription resumes from.
func (s *Subscriber) LastEventID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.haveID {
		return s.start
	}
	return s.lastID
}

// Run delivers the subscription's events to fn, one at a time in stream order, and
// returns when the subscription is over:
//
//   - ErrStreamEnded when the gateway answers 204 No Content (all topics closed);
//   - ctx's error when ctx is done;
//   - fn's error, as is, when fn fails (the event fn failed on counts as not seen, so a
//     later Run delivers it again);
//   - an *Error for a gateway answer that retrying cannot fix (400, 401, 403, 404…), or
//     another error for a stream that is not an event stream.
//
// Network errors, ended streams, idle connections and 5xx/429 answers are retried: after
// a stream that delivered events and ended cleanly, at once (the gateway ends streams on
// purpose, at their lifetime or when their topics are closed); otherwise after the
// server's retry: delay (DefaultRetry until it sends one), doubled for each further
// failure in a row, capped by WithMaxRetryDelay, with ±10% jitter; a Retry-After answer
// header counts as the delay. Each reconnection sends the last id seen as Last-Event-ID,
// so no event is lost or repeated within the gateway's retained history. fn applies
// backpressure: the stream is not read while fn runs.
func (s *Subscriber) Run(ctx context.Context, fn func(Message) error) error {
	failures := 0
	for {
		healthy, wait, err := s.connect(ctx, fn)
		var stop *stopError
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &stop):
			return stop.err
		case errors.Is(err, ErrStreamEnded):
			return err
		}
		var herr *Error
		if errors.As(err, &herr) && !herr.Temporary() {
			return err
		}
		var fatal *fatalError
		if errors.As(err, &fatal) {
			return fatal.err
		}
		var delay time.Duration
		if healthy {
			failures = 0
			if err == nil {
				delay = 0 // ended cleanly after delivering: reconnect at once
			} else {
				delay = s.backoff(0)
			}
		} else {
			delay = s.backoff(failures)
			failures++
		}
		if wait > 0 {
			delay = min(wait, s.opts.maxRetryDelay)
		}
		reason := "stream ended"
		if err != nil {
			reason = err.Error()
		}
		s.opts.logger.LogAttrs(ctx, slog.LevelInfo, "herald: reconnecting",
			slog.String("url", s.url.Redacted()), slog.Duration("delay", delay), slog.String("reason", reason))
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
	}
}

// backoff returns the delay before reconnection attempt n+1 of a series of failures.
func (s *Subscriber) backoff(n int) time.Duration {
	s.mu.Lock()
	d := s.retry
	s.mu.Unlock()
	maxD := s.opts.maxRetryDelay
	for range min(n, 30) {
		if d >= maxD/2 {
			d = maxD
			break
		}
		d *= 2
	}
	d = min(d, maxD)
	if d <= 0 {
		return 0
	}
	// ±10% so that clients dropped together do not come back together.
	return d - d/10 + rand.N(d/5+1)
}

// stopError carries fn's error out of connect.
type stopError struct{ err error }

func (e *stopError) Error() string { return e.err.Error() }

// fatalError marks an error that reconnecting cannot fix.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }

// connect runs one connection. healthy reports that it delivered an event or lasted a
// retry delay (so failures in a row start over); wait is a server-requested delay
// (Retry-After); err is nil when the stream ended cleanly.
func (s *Subscriber) connect(ctx context.Context, fn func(Message) error) (healthy bool, wait time.Duration, err error) {
	connCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(connCtx, http.MethodGet, s.url.String(), nil)
	if err != nil {
		return false, 0, &fatalError{fmt.Errorf("herald: subscribe: %w", err)}
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	s.opts.authorize(req)
	s.mu.Lock()
	if s.haveID {
		if s.lastID != "" {
			req.Header.Set("Last-Event-ID", s.lastID)
		}
	} else if s.start != "" {
		q := req.URL.Query()
		q.Set("lastEventID", s.start)
		req.URL.RawQuery = q.Encode()
	}
	retry := s.retry
	s.mu.Unlock()

	began := time.Now()
	resp, err := s.opts.httpClient.Do(req)
	if err != nil {
		return false, 0, fmt.Errorf("herald: subscribe: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNoContent:
		return false, 0, ErrStreamEnded
	case resp.StatusCode != http.StatusOK:
		e := readError(resp)
		if e.Temporary() {
			return false, retryAfter(resp), e
		}
		return false, 0, e
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return false, 0, &fatalError{fmt.Errorf("herald: subscribe: answer is %q, not text/event-stream", resp.Header.Get("Content-Type"))}
	}

	var body io.Reader = resp.Body
	if d := s.opts.idleTimeout; d > 0 {
		t := time.AfterFunc(d, func() { cancel(errIdle) })
		defer t.Stop()
		body = &idleReader{r: resp.Body, t: t, d: d}
	}
	r := sse.NewReader(body)
	delivered := false
	for {
		ev, err := r.Next()
		if d, ok := r.Retry(); ok && d != retry {
			retry = d
			s.mu.Lock()
			s.retry = d
			s.mu.Unlock()
		}
		if err != nil {
			s.noteID(r.LastEventID())
			healthy := delivered || time.Since(began) >= retry
			if err == io.EOF {
				return healthy, 0, nil
			}
			if cause := context.Cause(connCtx); cause == errIdle {
				err = errIdle
			}
			return healthy, 0, fmt.Errorf("herald: read stream: %w", err)
		}
		msg := Message{ID: ev.ID, Event: ev.Name, Data: append([]byte(nil), ev.Data...), Reset: ev.Name == herald.ResetEventName}
		if err := fn(msg); err != nil {
			return delivered, 0, &stopError{err}
		}
		delivered = true
		s.noteID(ev.ID)
	}
}

// noteID records id as the last id seen, once the gateway has handed out one.
func (s *Subscriber) noteID(id string) {
	if id == "" {
		return
	}
	s.mu.Lock()
	s.lastID, s.haveID = id, true
	s.mu.Unlock()
}

// retryAfter returns the delay of a Retry-After header in seconds, or 0.
func retryAfter(resp *http.Response) time.Duration {
	n, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// idleReader restarts an idle timer at every read that returns bytes.
type idleReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (i *idleReader) Read(p []byte) (int, error) {
	n, err := i.r.Read(p)
	if n > 0 {
		i.t.Reset(i.d)
	}
	return n, err
}
