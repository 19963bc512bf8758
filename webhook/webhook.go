// Package webhook delivers Herald's offline fallback: events published to a topic with no
// subscriber anywhere in the cluster are POSTed as JSON to a namespace's URL, so an app
// server can hand them to a mobile push provider.
//
// A Sender owns a bounded queue and a few workers. Each delivery is one POST of a Payload,
// signed with X-Herald-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>.
// A 2xx answer delivers it; a 5xx, 408, 429, a timeout or a connection error is retried
// with exponential backoff (BaseBackoff doubling up to MaxBackoff, with jitter) up to the
// target's Retries; any other 4xx fails at once. When the queue is full the payload is
// dropped. Every outcome is counted in herald_webhook_deliveries_total{result} (delivered,
// failed, dropped), and failed and dropped payloads are logged with their topic and id.
//
// Exactly one node sends each fallback: the node whose publish API accepted the event, the
// only one that holds the publish answer (see server). Nothing is persisted: payloads still
// queued when the process stops are lost (logged as failed by Close after its deadline).
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald/auth"
)

// SignatureHeader carries the body's HMAC.
const SignatureHeader = "X-Herald-Signature"

// Defaults for Options and Target.
const (
	DefaultQueueSize   = 10000
	DefaultWorkers     = 4
	DefaultTimeout     = 5 * time.Second
	DefaultRetries     = 3
	DefaultBaseBackoff = 500 * time.Millisecond
	DefaultMaxBackoff  = 30 * time.Second
)

// Results, the label values of herald_webhook_deliveries_total.
const (
	ResultDelivered = "delivered"
	ResultFailed    = "failed"
	ResultDropped   = "dropped"
)

// Target is where and how a namespace's fallbacks are sent (YAML offline_webhook).
type Target struct {
	URL    string `yaml:"url"`
	Secret string `yaml:"secret"`
	// Timeout bounds one attempt; 0 means DefaultTimeout.
	Timeout time.Duration `yaml:"timeout"`
	// Retries is how many times a failed attempt is retried; 0 means DefaultRetries, a
	// negative value none.
	Retries int `yaml:"retries"`
}

// Payload is the JSON body of a fallback POST.
type Payload struct {
	Topic string `json:"topic"`
	// User is the part of a personal topic after "<namespace>:", else omitted.
	User  string `json:"user,omitempty"`
	ID    string `json:"id"`
	Event string `json:"event,omitempty"`
	// Data is the event's data: its JSON value when it is valid JSON, else a JSON string.
	Data json.RawMessage `json:"data"`
	// PublishedAt is when the engine accepted the event (RFC 3339, nanoseconds).
	PublishedAt time.Time `json:"published_at"`
}

// DataValue returns data as the JSON value a Payload carries.
func DataValue(data []byte) json.RawMessage {
	if len(data) > 0 && json.Valid(data) {
		return json.RawMessage(data)
	}
	b, _ := json.Marshal(string(data))
	return b
}

// Sign returns the X-Herald-Signature value of body.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether header is a valid signature of body, in constant time.
func Verify(secret string, body []byte, header string) bool {
	want := Sign(secret, body)
	return hmac.Equal([]byte(want), []byte(strings.TrimSpace(header)))
}

// Options configure a Sender.
type Options struct {
	// Client sends the POSTs; nil means a client without redirects.
	Client *http.Client
	// QueueSize bounds the payloads waiting; 0 means DefaultQueueSize.
	QueueSize int
	// Workers is how many POSTs run at once; 0 means DefaultWorkers.
	Workers int
	// BaseBackoff and MaxBackoff shape the delay before retry n: Base·2ⁿ⁻¹, at most Max,
	// ±20% jitter. 0 means the defaults.
	BaseBackoff, MaxBackoff time.Duration
	// Registerer receives the sender's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

type job struct {
	target Target
	body   []byte
	topic  string
	id     string
}

// Sender delivers payloads in the background. Create it with New; Close it when done.
type Sender struct {
	opts       Options
	log        *slog.Logger
	queue      chan job
	deliveries *prometheus.CounterVec
	attempts   prometheus.Counter
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	closeOnce  sync.Once

	mu     sync.RWMutex // guards closed against sends on the closed queue
	closed bool
}

// New starts a sender's workers.
func New(opts Options) *Sender {
	if opts.Client == nil {
		opts.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.BaseBackoff <= 0 {
		opts.BaseBackoff = DefaultBaseBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sender{opts: opts, log: opts.Logger, queue: make(chan job, opts.QueueSize)}
	s.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_webhook_deliveries_total",
		Help: "Offline-fallback webhook payloads by final result (delivered, failed, dropped).",
	}, []string{"result"})
	s.attempts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_webhook_attempts_total",
		Help: "Offline-fallback webhook POST attempts, retries included.",
	})
	if opts.Registerer != nil {
		s.deliveries = register(opts.Registerer, s.deliveries)
		s.attempts = register(opts.Registerer, s.attempts)
	}
	for _, r := range []string{ResultDelivered, ResultFailed, ResultDropped} {
		s.deliveries.WithLabelValues(r)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for range opts.Workers {
		s.wg.Add(1)
		go s.work()
	}
	return s
}

// register registers c, or returns the collector already registered under its name (two
// servers in one process share a registry in tests).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

// Enqueue queues p for target and reports whether it was queued; a full queue or a closed
// sender drops it (counted and logged).
func (s *Sender) Enqueue(target Target, p Payload) bool {
	body, err := json.Marshal(p)
	if err != nil {
		s.log.Error("webhook: encode payload", "topic", p.Topic, "id", p.ID, "err", err)
		s.deliveries.WithLabelValues(ResultFailed).Inc()
		return false
	}
	s.mu.RLock()
	if !s.closed {
		select {
		case s.queue <- job{target: target, body: body, topic: p.Topic, id: p.ID}:
			s.mu.RUnlock()
			return true
		default:
		}
	}
	s.mu.RUnlock()
	s.deliveries.WithLabelValues(ResultDropped).Inc()
	s.log.Warn("webhook: queue full, offline fallback dropped", "topic", p.Topic, "id", p.ID, "queue", cap(s.queue))
	return false
}

// Close stops taking payloads, lets the workers finish the queue until ctx is done, then
// abandons what is left (each logged as failed).
func (s *Sender) Close(ctx context.Context) {
	s.closeOnce.Do(func() {
		done := make(chan struct{})
		go func() {
			<-ctx.Done()
			s.cancel()
		}()
		s.mu.Lock()
		s.closed = true
		close(s.queue)
		s.mu.Unlock()
		go func() {
			s.wg.Wait()
			close(done)
		}()
		<-done
		s.cancel()
	})
}

func (s *Sender) work() {
	defer s.wg.Done()
	for j := range s.queue {
		s.deliver(j)
	}
}

// deliver sends one payload with retries and records the outcome.
func (s *Sender) deliver(j job) {
	retries := j.target.Retries
	if retries == 0 {
		retries = DefaultRetries
	}
	if retries < 0 {
		retries = 0
	}
	var err error
	for attempt := 0; ; attempt++ {
		var retry bool
		retry, err = s.post(j)
		if err == nil {
			s.deliveries.WithLabelValues(ResultDelivered).Inc()
			return
		}
		if !retry || attempt >= retries || s.ctx.Err() != nil {
			break
		}
		d := s.backoff(attempt)
		s.log.Debug("webhook: retrying", "topic", j.topic, "id", j.id, "attempt", attempt+1, "in", d, "err", err)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
		}
	}
	s.deliveries.WithLabelValues(ResultFailed).Inc()
	s.log.Error("webhook: offline fallback failed", "topic", j.topic, "id", j.id, "url", auth.RedactEndpoint(j.target.URL), "err", err)
}

func (s *Sender) backoff(attempt int) time.Duration {
	d := s.opts.BaseBackoff << attempt
	if d <= 0 || d > s.opts.MaxBackoff {
		d = s.opts.MaxBackoff
	}
	return d - d/5 + rand.N(2*d/5+1)
}

// post makes one attempt; retry says whether a failure is worth retrying.
func (s *Sender) post(j job) (retry bool, err error) {
	s.attempts.Inc()
	timeout := j.target.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.target.URL, bytes.NewReader(j.body))
	if err != nil {
		return false, fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Herald-Webhook/1")
	req.Header.Set(SignatureHeader, Sign(j.target.Secret, j.body))
	req.Header.Set("X-Herald-Event-ID", j.id)
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return true, fmt.Errorf("webhook POST: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests:
		return true, fmt.Errorf("webhook POST: status %d", resp.StatusCode)
	default:
		return false, fmt.Errorf("webhook POST: status %d (not retried)", resp.StatusCode)
	}
}
