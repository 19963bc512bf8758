package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Mode is what a run measures.
type Mode string

// The modes.
const (
	// ModeIdle holds Conns streams open and measures what they cost the server.
	ModeIdle Mode = "idle"
	// ModeBroadcast puts Conns subscribers on one topic and publishes Rate events/s to it.
	ModeBroadcast Mode = "broadcast"
	// ModeUnicast gives each subscriber its own topic and publishes Rate events/s to random
	// ones.
	ModeUnicast Mode = "unicast"
	// ModeReconnect is ModeBroadcast with subscribers that drop at random and resume with
	// their cursor; it counts lost and duplicated events. With several Servers each
	// stream after a subscriber's first goes to a random one.
	ModeReconnect Mode = "reconnect"
	// ModeTasks runs Conns tasks at a time, one after another: each on its own new topic,
	// with ReplaySteps steps published before its stream opens (replayed from history),
	// the rest and a final event after, until the server ends the stream. It measures the
	// streams a node opens and ends per second and what each costs.
	ModeTasks Mode = "tasks"
)

// Defaults for Config.
const (
	DefaultTopicPrefix = "bench"
	DefaultDuration    = 10 * time.Second
	DefaultRate        = 10
	DefaultChurn       = time.Second
	DefaultDrain       = 5 * time.Second
	DefaultDialers     = 64
	// DefaultConnsPerProcess is how many streams one process holds before Run spreads them
	// over worker processes: the open-file limit is often 20,000 and cannot always be
	// raised.
	DefaultConnsPerProcess = 18000
	// DefaultSteps and DefaultReplaySteps shape a task (tasks mode).
	DefaultSteps       = 4
	DefaultReplaySteps = 2
	// DefaultH2Conns is the TCP connections per process that HTTP/2 streams share.
	DefaultH2Conns = 50
)

// The HTTP/2 variants of Config.HTTP2.
const (
	// HTTP2H2C is cleartext HTTP/2 with prior knowledge (no upgrade) to http:// servers.
	HTTP2H2C = "h2c"
	// HTTP2TLS is HTTP/2 over TLS, negotiated with ALPN, to https:// servers.
	HTTP2TLS = "tls"
)

// Config describes a run.
type Config struct {
	Mode Mode
	// Servers are the gateways' base URLs (http only); subscriber i uses Servers[i%len].
	Servers []string
	// PublishRoundRobin spreads publish requests over Servers instead of sending all of
	// them to the first.
	PublishRoundRobin bool
	// Conns is the number of subscribers (streams); in tasks mode, of tasks at a time.
	Conns int
	// Rate is the events published per second (all topics together); in tasks mode the
	// tasks started per second (0: each of the Conns starts its next task at once).
	Rate float64
	// Duration is how long events are published (idle: how long streams are held).
	Duration time.Duration
	// TopicPrefix starts every topic: <prefix>:b (broadcast), <prefix>:u:<i> (unicast),
	// <prefix>:r (reconnect), <prefix>:idle, <prefix>:<run>-<i>-<n> (tasks: task n of slot
	// i in a run named by its start time).
	TopicPrefix string
	// TopicPerConn gives each idle-mode subscriber its own topic, <prefix>:idle:<i>,
	// instead of the shared <prefix>:idle (idle mode only).
	TopicPerConn bool
	// Steps is the events a task publishes before its final event (0: DefaultSteps);
	// ReplaySteps of them (0: none) are published before its stream opens (tasks mode).
	Steps, ReplaySteps int
	// Batch is the events per publish request; above 1 requests use {"events":[…]}.
	Batch int
	// Publishers is the number of concurrent publish loops (unicast only; a single topic
	// is published by one loop so that its order is known).
	Publishers int
	// HTTP2 opens the subscriber streams over HTTP/2: HTTP2H2C (cleartext, prior knowledge)
	// to http:// servers, HTTP2TLS (TLS with ALPN h2) to https:// servers; "" speaks raw
	// HTTP/1.1 (see h2.go). Publishing stays on HTTP/1.1 keep-alive connections (over TLS
	// to https:// servers).
	HTTP2 string
	// H2Conns is the TCP connections per process that the HTTP/2 streams are multiplexed
	// over (DefaultH2Conns); stream i of a process goes to connection i modulo H2Conns.
	H2Conns int
	// Insecure accepts any certificate from https:// servers (self-signed ones on loopback).
	Insecure bool
	// Token is sent as "Authorization: Bearer" on every request.
	Token string
	// SourceAddrs are local addresses that subscriber sockets bind to, in turn.
	SourceAddrs []netip.Addr
	// Churn is the mean time between a subscriber's drops in reconnect mode.
	Churn time.Duration
	// Drain is how long to wait, after publishing, for outstanding deliveries.
	Drain time.Duration
	// ConnectTimeout bounds the connect phase (default: 10 s + 1 ms per connection).
	ConnectTimeout time.Duration
	// Dialers bounds concurrent connection attempts.
	Dialers int
	// ServerPID, when set, is a local server process whose RSS and CPU are reported.
	ServerPID int
	// Workers is the number of worker processes; 0 picks one per ConnsPerProcess.
	Workers int
	// ConnsPerProcess is the most streams one process holds (DefaultConnsPerProcess).
	ConnsPerProcess int
	// Spawn returns the command that runs worker index of count (it must call ServeWorker
	// with the same Config); nil means no worker processes.
	Spawn func(ctx context.Context, index, count int) *exec.Cmd
	// Progress receives a progress line every second; nil for none.
	Progress io.Writer
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// withDefaults fills zero values and validates.
func (c Config) withDefaults() (Config, error) {
	switch c.Mode {
	case ModeIdle, ModeBroadcast, ModeUnicast, ModeReconnect, ModeTasks:
	case "":
		c.Mode = ModeBroadcast
	default:
		return c, fmt.Errorf("unknown mode %q (want idle, broadcast, unicast, reconnect or tasks)", c.Mode)
	}
	if len(c.Servers) == 0 {
		return c, errors.New("no server")
	}
	if c.Conns <= 0 {
		return c, fmt.Errorf("conns must be positive, got %d", c.Conns)
	}
	if c.Rate < 0 {
		return c, fmt.Errorf("rate must not be negative, got %v", c.Rate)
	}
	if c.Rate == 0 && c.Mode != ModeIdle && c.Mode != ModeTasks {
		c.Rate = DefaultRate
	}
	if c.TopicPerConn && c.Mode != ModeIdle {
		return c, fmt.Errorf("a topic per connection is an idle-mode option, not for mode %s", c.Mode)
	}
	if c.Mode == ModeTasks {
		if c.Steps <= 0 {
			c.Steps = DefaultSteps
		}
		if c.ReplaySteps < 0 || c.ReplaySteps > c.Steps {
			return c, fmt.Errorf("replay steps must be 0 to the steps of a task (%d), got %d", c.Steps, c.ReplaySteps)
		}
	}
	switch c.HTTP2 {
	case "", HTTP2H2C, HTTP2TLS:
	default:
		return c, fmt.Errorf("unknown HTTP/2 variant %q (want h2c or tls)", c.HTTP2)
	}
	if c.HTTP2 != "" && c.Mode == ModeTasks {
		return c, errors.New("tasks mode speaks HTTP/1.1 only")
	}
	for _, s := range c.Servers {
		secure := strings.HasPrefix(s, "https://")
		switch {
		case secure && c.HTTP2 != HTTP2TLS:
			return c, fmt.Errorf("server %q: https:// servers take --http2 tls (the raw HTTP/1.1 subscribers speak no TLS)", s)
		case !secure && c.HTTP2 == HTTP2TLS:
			return c, fmt.Errorf("server %q: --http2 tls needs an https:// server", s)
		}
	}
	if c.H2Conns <= 0 {
		c.H2Conns = DefaultH2Conns
	}
	if c.Duration <= 0 {
		c.Duration = DefaultDuration
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = DefaultTopicPrefix
	}
	if c.Batch <= 0 {
		c.Batch = 1
	}
	if c.Publishers <= 0 {
		c.Publishers = 1
		if c.Mode == ModeUnicast {
			c.Publishers = min(4, c.Conns)
		}
	}
	if c.Mode != ModeUnicast {
		c.Publishers = 1
	}
	if c.Churn <= 0 {
		c.Churn = DefaultChurn
	}
	if c.Drain <= 0 {
		c.Drain = DefaultDrain
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10*time.Second + time.Duration(c.Conns)*time.Millisecond
	}
	if c.Dialers <= 0 {
		c.Dialers = DefaultDialers
	}
	if c.ConnsPerProcess <= 0 {
		c.ConnsPerProcess = DefaultConnsPerProcess
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// topic returns subscriber i's topic.
func (c *Config) topic(i int) string {
	switch c.Mode {
	case ModeUnicast:
		return c.TopicPrefix + ":u:" + strconv.Itoa(i)
	case ModeReconnect:
		return c.TopicPrefix + ":r"
	case ModeIdle:
		if c.TopicPerConn {
			return c.TopicPrefix + ":idle:" + strconv.Itoa(i)
		}
		return c.TopicPrefix + ":idle"
	default:
		return c.TopicPrefix + ":b"
	}
}

// target is one gateway.
type target struct {
	base string // base URL without a trailing slash, for publishing
	addr string // host:port to dial
	host string // Host header
	path string // path prefix
	// tls is the client configuration of an https:// server; nil for http://.
	tls *tls.Config
}

// parseTargets checks the server URLs; insecure accepts any certificate from https:// ones.
func parseTargets(servers []string, insecure bool) ([]target, error) {
	ts := make([]target, 0, len(servers))
	for _, s := range servers {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("server %q: %w", s, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("server %q: only http:// and https:// are supported by the load generator", s)
		}
		if u.Host == "" {
			return nil, fmt.Errorf("server %q: no host", s)
		}
		t := target{base: u.Scheme + "://" + u.Host, addr: u.Host, host: u.Host, path: strings.TrimRight(u.Path, "/")}
		t.base += t.path
		if u.Port() == "" {
			t.addr = u.Host + ":80"
		}
		if u.Scheme == "https" {
			if u.Port() == "" {
				t.addr = u.Host + ":443"
			}
			// Security: InsecureSkipVerify only when asked (--insecure, loopback benchmarks).
			t.tls = &tls.Config{ServerName: u.Hostname(), InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12}
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// ParseAddrRange parses source addresses: a comma-separated list of addresses or ranges
// like "127.0.0.2-127.0.0.9".
func ParseAddrRange(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := netip.ParseAddr(lo)
		if err != nil {
			return nil, fmt.Errorf("source address %q: %w", lo, err)
		}
		if !isRange {
			out = append(out, a)
			continue
		}
		b, err := netip.ParseAddr(hi)
		if err != nil {
			return nil, fmt.Errorf("source address %q: %w", hi, err)
		}
		if b.Less(a) || a.Is4() != b.Is4() {
			return nil, fmt.Errorf("source range %q is empty", part)
		}
		for ; ; a = a.Next() {
			out = append(out, a)
			if a == b {
				break
			}
			if len(out) > 1024 {
				return nil, fmt.Errorf("source range %q: more than 1024 addresses", part)
			}
		}
	}
	return out, nil
}
