package probe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Defaults for Options. Idle and Duration are production-sized: longer than the 60 s idle
// timeout of common load balancers and than the 15 s and 30 s route timeouts of Envoy and
// Google's load balancer.
const (
	DefaultIdle         = 75 * time.Second
	DefaultDuration     = 75 * time.Second
	DefaultEvents       = 5
	DefaultEventTimeout = 5 * time.Second
	DefaultHeadTimeout  = 5 * time.Second
	DefaultTick         = 5 * time.Second
	DefaultNamespace    = "probe"
	// MaxEventBytes bounds Options.EventBytes, below Herald's default 64 KiB event limit.
	MaxEventBytes = 60 << 10
)

// Options configure Run. URL is required; the zero value of the rest means the defaults.
type Options struct {
	// URL is the events endpoint as browsers reach it, e.g. https://example.com/v1/events.
	// Its query parameters (a token, say) are kept; the probe adds topic and lastEventID.
	URL string
	// PublishURL is the publish endpoint; empty means URL with its last path element
	// "events" replaced by "publish" (the same origin's /v1/publish).
	PublishURL string
	// Token is the publisher's credential (an API key or a JWT), sent as a bearer token.
	Token string
	// SubscribeToken is sent as a bearer token on stream requests; empty means Token.
	SubscribeToken string
	// Namespace prefixes the probe's topics (DefaultNamespace): each run uses fresh topics
	// "<namespace>:<random>-<check>".
	Namespace string
	// Events is how many events the delay check publishes one after another.
	Events int
	// EventBytes pads each delay event's data to about this many bytes. Small events stay
	// in a buffering proxy; events of a few KiB fill its buffer, and then arrive in bulk.
	EventBytes int
	// EventTimeout is how long the probe waits for one published event to arrive.
	EventTimeout time.Duration
	// HeadTimeout is how long the probe waits for the stream's first comment.
	HeadTimeout time.Duration
	// Idle is how long the quiet stream must stay open.
	Idle time.Duration
	// Duration is how long the busy stream must stay open.
	Duration time.Duration
	// Tick is how often the busy stream receives an event.
	Tick time.Duration
	// Client makes the requests; nil means a client with HTTP/2 over TLS and no overall
	// timeout (streams are long).
	Client *http.Client
	// Progress, when set, receives a progress line (rewritten in place with \r) while the
	// probe waits.
	Progress io.Writer
}

// ErrNoURL is returned by Run without Options.URL.
var ErrNoURL = errors.New("probe: no events URL")

func (o *Options) setDefaults() error {
	if o.URL == "" {
		return ErrNoURL
	}
	if o.SubscribeToken == "" {
		o.SubscribeToken = o.Token
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Events <= 0 {
		o.Events = DefaultEvents
	}
	if o.EventBytes < 0 || o.EventBytes > MaxEventBytes {
		return fmt.Errorf("probe: event bytes %d: want 0 to %d", o.EventBytes, MaxEventBytes)
	}
	if o.EventTimeout <= 0 {
		o.EventTimeout = DefaultEventTimeout
	}
	if o.HeadTimeout <= 0 {
		o.HeadTimeout = DefaultHeadTimeout
	}
	if o.Idle <= 0 {
		o.Idle = DefaultIdle
	}
	if o.Duration <= 0 {
		o.Duration = DefaultDuration
	}
	if o.Tick <= 0 {
		o.Tick = DefaultTick
	}
	if o.Tick > o.Duration/2 {
		o.Tick = o.Duration / 2
	}
	if o.Client == nil {
		o.Client = &http.Client{Transport: &http.Transport{
			Proxy:             http.ProxyFromEnvironment,
			ForceAttemptHTTP2: true,
			// The probe reads compression itself (stream.go), to see it.
			DisableCompression: true,
		}}
	}
	return nil
}

// runner holds one run's state.
type runner struct {
	opts     Options
	events   *url.URL
	pub      *publisher
	base     string // topic prefix "<namespace>:<random>"
	progress *progress

	mu                    sync.Mutex // guards the progress state below
	phase                 string
	quietStart, longStart time.Time
}

// Run probes the path to Herald's events endpoint and returns the report. It returns an
// error only for bad options; a path that cannot be reached is a failed check.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	events, err := url.Parse(opts.URL)
	if err != nil || (events.Scheme != "http" && events.Scheme != "https") || events.Host == "" {
		return nil, fmt.Errorf("probe: events URL %q: want an http:// or https:// URL", opts.URL)
	}
	if opts.PublishURL == "" {
		opts.PublishURL = publishURLFor(events)
	}
	if p, err := url.Parse(opts.PublishURL); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return nil, fmt.Errorf("probe: publish URL %q: want an http:// or https:// URL", opts.PublishURL)
	}
	if err := checkNamespace(opts.Namespace); err != nil {
		return nil, err
	}
	r := &runner{
		opts:     opts,
		events:   events,
		pub:      &publisher{client: opts.Client, url: opts.PublishURL, token: opts.Token},
		base:     opts.Namespace + ":" + randomID(),
		progress: &progress{w: opts.Progress},
	}
	rep := &Report{URL: redact(events), PublishURL: opts.PublishURL, Topic: r.base, Started: time.Now()}
	defer func() { rep.Elapsed = time.Since(rep.Started).Seconds() }()

	// The head check opens the first stream; when that fails nothing else can be measured.
	first, ok := r.checkHead(ctx, rep)
	if !ok {
		return rep, nil
	}
	// The long checks run in the background while the short ones measure.
	var wg sync.WaitGroup
	var idle, long Result
	wg.Add(2)
	go func() { defer wg.Done(); idle = r.checkIdle(ctx) }()
	go func() { defer wg.Done(); long = r.checkDuration(ctx) }()

	r.checkDelay(ctx, rep, first)
	r.checkHeaders(rep, first) // after the delay check: a held head may have come by now
	first.close()
	r.checkResume(ctx, rep, CheckResumeHeader)
	r.checkResume(ctx, rep, CheckResumeQuery)

	r.setPhase("waiting for the long streams")
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				r.showProgress()
			case <-stop:
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	r.progress.clear()
	if idle.Status == Fail && long.Status == Fail && idle.Seconds != nil && long.Seconds != nil {
		idle.Detail += "; the busy stream was cut too, so this is a route timeout rather than an idle one"
	}
	rep.add(idle)
	rep.add(long)
	rep.sort()
	return rep, nil
}

// topic returns the run's topic for one check.
func (r *runner) topic(check string) string { return r.base + "-" + check }

// streamURL returns the events URL for topic, with lastEventID in the query when set.
func (r *runner) streamURL(topic, lastEventID string) *url.URL {
	u := *r.events
	q := u.Query()
	q.Set("topic", topic)
	if lastEventID != "" {
		q.Set("lastEventID", lastEventID)
	}
	u.RawQuery = q.Encode()
	return &u
}

// publishURLFor derives the publish URL from the events URL: a last path element "events"
// becomes "publish" (https://host/prefix/v1/events → https://host/prefix/v1/publish); any
// other path gives the origin's /v1/publish.
func publishURLFor(events *url.URL) string {
	u := url.URL{Scheme: events.Scheme, Host: events.Host, User: events.User}
	if strings.HasSuffix(events.Path, "/events") {
		u.Path = strings.TrimSuffix(events.Path, "events") + "publish"
	} else {
		u.Path = "/v1/publish"
	}
	return u.String()
}

// redact returns u for printing: a password and a token query parameter are masked.
func redact(u *url.URL) string {
	c := *u
	q := c.Query()
	if q.Has("token") {
		q.Set("token", "xxxxx")
		c.RawQuery = q.Encode()
	}
	return c.Redacted()
}

// checkNamespace refuses a namespace that cannot prefix a topic.
func checkNamespace(ns string) error {
	for _, c := range []byte(ns) {
		if c <= ' ' || c >= 0x7f || c == ':' {
			return fmt.Errorf("probe: namespace %q: printable ASCII without spaces or ':'", ns)
		}
	}
	if len(ns) > 64 {
		return fmt.Errorf("probe: namespace %q: longer than 64 bytes", ns)
	}
	return nil
}

func randomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// progress writes one status line, rewritten in place, while the probe waits.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	shown bool
}

func (p *progress) show(format string, args ...any) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r\033[K"+format, args...)
	p.shown = true
}

func (p *progress) clear() {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}

// setPhase names what the short checks are doing, for the progress line.
func (r *runner) setPhase(phase string) {
	r.mu.Lock()
	r.phase = phase
	r.mu.Unlock()
	r.showProgress()
}

// startLong notes when a long check's stream opened, for the progress line.
func (r *runner) startLong(which string) {
	r.mu.Lock()
	if which == "quiet" {
		r.quietStart = time.Now()
	} else {
		r.longStart = time.Now()
	}
	r.mu.Unlock()
}

// showProgress rewrites the progress line.
func (r *runner) showProgress() {
	r.mu.Lock()
	phase := r.phase
	quiet, long := r.quietStart, r.longStart
	r.mu.Unlock()
	line := "probing: " + phase
	if !quiet.IsZero() {
		line += fmt.Sprintf(" · quiet stream %s/%s", time.Since(quiet).Truncate(time.Second), r.opts.Idle)
	}
	if !long.IsZero() {
		line += fmt.Sprintf(" · long stream %s/%s", time.Since(long).Truncate(time.Second), r.opts.Duration)
	}
	r.progress.show("%s", line)
}
