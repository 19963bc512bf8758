package server

import (
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldpush/herald/limit"
)

// Defaults for Limits.
const (
	// DefaultMaxConnsPerUser bounds the streams of one token subject (a user with many tabs
	// and devices stays far below it).
	DefaultMaxConnsPerUser = 100
	// DefaultConnBurstPerIP is the burst of new connections per IP when ConnRatePerIP is set.
	DefaultConnBurstPerIP = 20
	// DefaultPublishBurst is the burst of publish requests when PublishRate is set.
	DefaultPublishBurst = 100
	// DefaultReadHeaderTimeout bounds how long a client may take to send its request
	// headers (slowloris).
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout bounds how long a publish request body may take to arrive.
	DefaultReadTimeout = 30 * time.Second
)

// Limits bound what one client can take from a node. Per-IP limits key IPv4 addresses and
// IPv6 /64 prefixes of the TCP peer (forwarding headers are never trusted), so behind a
// proxy or load balancer every client shares the proxy's address: leave them off there.
type Limits struct {
	// MaxConnsPerUser bounds the open streams of one token subject
	// (DefaultMaxConnsPerUser when 0, unlimited when negative).
	MaxConnsPerUser int `yaml:"max_conns_per_user"`
	// MaxConnsPerIP bounds the open streams of one client address (0 = unlimited).
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
	// ConnRatePerIP is the new streams per second one client address may open on average
	// (0 = unlimited), with bursts of ConnBurstPerIP (DefaultConnBurstPerIP when 0).
	ConnRatePerIP  float64 `yaml:"conn_rate_per_ip"`
	ConnBurstPerIP int     `yaml:"conn_burst_per_ip"`
	// PublishRate is the publish requests per second one API key, token subject or (for
	// anonymous loopback publishers) address may send on average (0 = unlimited), with
	// bursts of PublishBurst (DefaultPublishBurst when 0). A batch counts once.
	PublishRate  float64 `yaml:"publish_rate"`
	PublishBurst int     `yaml:"publish_burst"`
	// ReadHeaderTimeout bounds the time to read a request's headers
	// (DefaultReadHeaderTimeout when 0).
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds the time to read a publish request's body (DefaultReadTimeout when
	// 0, none when negative). Streams are not affected.
	ReadTimeout time.Duration `yaml:"read_timeout"`
}

// withDefaults fills zero values and validates.
func (l Limits) withDefaults() (Limits, error) {
	if l.MaxConnsPerUser == 0 {
		l.MaxConnsPerUser = DefaultMaxConnsPerUser
	}
	if l.ConnBurstPerIP <= 0 {
		l.ConnBurstPerIP = DefaultConnBurstPerIP
	}
	if l.PublishBurst <= 0 {
		l.PublishBurst = DefaultPublishBurst
	}
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if l.ReadTimeout == 0 {
		l.ReadTimeout = DefaultReadTimeout
	}
	switch {
	case l.MaxConnsPerIP < 0:
		return l, fmt.Errorf("max-conns-per-ip must not be negative, got %d", l.MaxConnsPerIP)
	case l.ConnRatePerIP < 0 || math.IsNaN(l.ConnRatePerIP) || math.IsInf(l.ConnRatePerIP, 0):
		return l, fmt.Errorf("conn-rate-per-ip must be a non-negative number, got %v", l.ConnRatePerIP)
	case l.PublishRate < 0 || math.IsNaN(l.PublishRate) || math.IsInf(l.PublishRate, 0):
		return l, fmt.Errorf("publish-rate must be a non-negative number, got %v", l.PublishRate)
	}
	return l, nil
}

// limiters are the keyed limiters of a server; nil ones allow everything.
type limiters struct {
	connRate    *limit.Rate
	ipConns     *limit.Counter
	userConns   *limit.Counter
	publishRate *limit.Rate
}

func newLimiters(l Limits) *limiters {
	return &limiters{
		connRate:    limit.NewRate(l.ConnRatePerIP, l.ConnBurstPerIP, 0),
		ipConns:     limit.NewCounter(l.MaxConnsPerIP),
		userConns:   limit.NewCounter(l.MaxConnsPerUser),
		publishRate: limit.NewRate(l.PublishRate, l.PublishBurst, 0),
	}
}

// acquireConn takes a connection slot for the address and (when not "") the user. It
// returns the function that gives them back, or nil and the reason when a limit is full.
func (l *limiters) acquireConn(ip, user string) (release func(), reason string) {
	if !l.ipConns.Acquire(ip) {
		return nil, "too many open streams from this address"
	}
	if user != "" && !l.userConns.Acquire(user) {
		l.ipConns.Release(ip)
		return nil, "too many open streams for this user"
	}
	// The release holds only what it gives back: a stream of the default configuration (no
	// per-IP bound, anonymous) holds no closure at all (issue 17: memory per idle stream).
	ipHeld := l.ipConns != nil
	userHeld := user != "" && l.userConns != nil
	switch {
	case ipHeld && userHeld:
		return func() {
			l.ipConns.Release(ip)
			l.userConns.Release(user)
		}, ""
	case ipHeld:
		return func() { l.ipConns.Release(ip) }, ""
	case userHeld:
		return func() { l.userConns.Release(user) }, ""
	}
	return releaseNothing, ""
}

// releaseNothing is the release of a connection that took no counted slot.
func releaseNothing() {}

// clientIP is the limiter key of the request's TCP peer.
func clientIP(r *http.Request) string { return limit.IPKey(r.RemoteAddr) }

// tooMany answers 429 with a Retry-After of at least a second. Codes: "rate_limited" for a
// rate, "too_many_streams" for a connection count.
func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, retry time.Duration, code, msg string) {
	secs := int64(math.Ceil(retry.Seconds()))
	w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.log.Debug("over a limit", "code", code, "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
	}
	writeError(w, http.StatusTooManyRequests, code, msg)
}
