package server

import (
	"fmt"
	"strings"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/hub"
	"github.com/heraldpush/herald/mercure"
)

// Defaults for Config.
const (
	DefaultAddr            = "127.0.0.1:8080"
	DefaultHistorySize     = herald.DefaultHistorySize
	DefaultHistoryTTL      = herald.DefaultHistoryTTL
	DefaultDrain           = 5 * time.Second
	DefaultMaxMessageBytes = 64 << 10
	DefaultMaxBatch        = 1000
	DefaultMaxBodyBytes    = 4 << 20
	DefaultMaxTopics       = 64
)

// Config is the gateway's configuration. The YAML keys are the flag names with '_' for '-'.
type Config struct {
	Addr           string        `yaml:"addr"`
	Heartbeat      time.Duration `yaml:"heartbeat"`
	HeartbeatEvent string        `yaml:"heartbeat_event"`
	Retry          time.Duration `yaml:"retry"`
	// MaxLifetime ends streams after this long (±10% jitter); 0 = never.
	MaxLifetime time.Duration `yaml:"max_lifetime"`
	HistorySize int           `yaml:"history_size"`
	HistoryTTL  time.Duration `yaml:"history_ttl"`
	// Drain is the window over which streams are ended on shutdown.
	Drain       time.Duration `yaml:"drain"`
	CORSOrigins []string      `yaml:"cors_origin"`
	TLSCert     string        `yaml:"tls_cert"`
	TLSKey      string        `yaml:"tls_key"`
	// MaxQueueBytes bounds each connection's queue of unwritten frames (slow consumers).
	MaxQueueBytes int `yaml:"max_queue_bytes"`
	// SendBuffer is each HTTP/1.1 stream's kernel send buffer (SO_SNDBUF) in bytes; 0 takes
	// hub.DefaultSendBuffer, a negative value leaves it to the kernel's autotuning.
	SendBuffer int `yaml:"send_buffer"`
	// MaxMessageBytes bounds one event's data.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// MaxBatch bounds the events of one publish request.
	MaxBatch int `yaml:"max_batch"`
	// MaxBodyBytes bounds a publish request body.
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// MaxTopics bounds the topics of one stream.
	MaxTopics int `yaml:"max_topics"`
	// NoHijack keeps every stream on its HTTP handler goroutine. By default a plain HTTP/1.1
	// stream on Linux is hijacked once it starts and driven by the hub's writer pool, so an
	// idle stream costs no goroutine and no buffer; so is an HTTP/2 stream on Herald's
	// HTTP/2 engine (HTTP2Streams "detached").
	NoHijack bool `yaml:"no_hijack"`
	// HTTP2Streams picks the HTTP/2 server: "detached" (the default where the hub's writer
	// pool runs, Linux) serves HTTP/2 connections with Herald's own engine
	// (internal/h2conn), whose event streams are driven by the writer pool without a
	// goroutine each; "std" serves them with net/http's HTTP/2 server, every stream in its
	// handler goroutine. Elsewhere it is always "std".
	HTTP2Streams string `yaml:"http2_streams"`
	// NoPublishLane keeps publish connections on net/http. By default, wherever Herald's
	// HTTP/2 engine runs, a cleartext connection whose first request is POST /v1/publish is
	// served by Herald's HTTP/1.1 publish lane (internal/h1conn): the same handler, answers
	// byte for byte net/http's, ~18% less server CPU per single-event publish.
	NoPublishLane bool `yaml:"no_publish_lane"`
	// Namespaces holds per-namespace settings; the namespace of a topic is the part before
	// its first ':'.
	Namespaces map[string]Namespace `yaml:"namespaces"`

	// Auth and Limits: who may subscribe and publish, and what one client may take
	// (server/auth.go, server/limits.go, docs/security.md).
	Auth   AuthConfig `yaml:",inline"`
	Limits Limits     `yaml:",inline"`
	// PresenceConfig: presence_heartbeat, presence_ttl (server/presence.go).
	PresenceConfig `yaml:",inline"`
	// Mercure serves the Mercure protocol at /.well-known/mercure (package mercure).
	Mercure mercure.Config `yaml:"mercure"`
}

// Namespace holds the settings of the topics of one namespace.
type Namespace struct {
	// Replay "all" replays a topic's retained history to subscribers that send no cursor.
	Replay      string        `yaml:"replay"`
	HistorySize int           `yaml:"history_size"`
	HistoryTTL  time.Duration `yaml:"history_ttl"`
	// Public lets anyone subscribe to the namespace's topics, with or without a token
	// (auth.NamespacePolicy; Personal, in NamespacePresence, is the other policy key).
	Public bool `yaml:"public"`
	// NamespacePresence: offline_webhook, presence_events, personal (server/presence.go).
	NamespacePresence `yaml:",inline"`
}

// Values of Config.HTTP2Streams.
const (
	HTTP2Detached = "detached"
	HTTP2Std      = "std"
)

// withDefaults fills zero values and validates: the one place the configuration is checked
// (the authenticator checks key material when it loads it).
func (c Config) withDefaults() (Config, error) {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = hub.DefaultHeartbeat
	}
	if c.Retry <= 0 {
		c.Retry = hub.DefaultRetry
	}
	if c.HistorySize <= 0 {
		c.HistorySize = DefaultHistorySize
	}
	if c.HistoryTTL <= 0 {
		c.HistoryTTL = DefaultHistoryTTL
	}
	if c.Drain < 0 {
		return c, fmt.Errorf("drain must not be negative, got %s", c.Drain)
	}
	if c.MaxLifetime < 0 {
		return c, fmt.Errorf("max-lifetime must not be negative, got %s", c.MaxLifetime)
	}
	if c.MaxQueueBytes <= 0 {
		c.MaxQueueBytes = hub.DefaultMaxQueueBytes
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = hub.DefaultSendBuffer
	}
	switch c.HTTP2Streams {
	case "":
		c.HTTP2Streams = HTTP2Detached
	case HTTP2Detached, HTTP2Std:
	default:
		return c, fmt.Errorf("http2-streams must be %q or %q, got %q", HTTP2Detached, HTTP2Std, c.HTTP2Streams)
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxTopics <= 0 {
		c.MaxTopics = DefaultMaxTopics
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return c, fmt.Errorf("tls-cert and tls-key go together")
	}
	if c.HeartbeatEvent != "" {
		if _, err := herald.ParseEventName(c.HeartbeatEvent); err != nil {
			return c, fmt.Errorf("heartbeat-event: %w", err)
		}
	}
	for name, ns := range c.Namespaces {
		switch ns.Replay {
		case "", "none", "all":
		default:
			return c, fmt.Errorf("namespace %q: replay must be \"all\" or \"none\", got %q", name, ns.Replay)
		}
		if ns.HistorySize < 0 || ns.HistoryTTL < 0 {
			return c, fmt.Errorf("namespace %q: history_size and history_ttl must not be negative", name)
		}
		if ns.Public && ns.Personal {
			return c, fmt.Errorf("namespace %q cannot be both public and personal", name)
		}
		if w := ns.OfflineWebhook; w != nil {
			if !strings.HasPrefix(w.URL, "http://") && !strings.HasPrefix(w.URL, "https://") {
				return c, fmt.Errorf("namespace %q: offline_webhook.url must be an http(s) URL", name)
			}
			if w.Secret == "" {
				return c, fmt.Errorf("namespace %q: offline_webhook.secret is required", name)
			}
			if w.Timeout < 0 {
				return c, fmt.Errorf("namespace %q: offline_webhook.timeout must not be negative", name)
			}
		}
	}
	m, err := c.Mercure.WithDefaults() // mercure hook
	if err != nil {
		return c, err
	}
	c.Mercure = m
	if err := c.Auth.validate(); err != nil { // auth_config.go
		return c, err
	}
	limits, err := c.Limits.withDefaults() // limits.go
	if err != nil {
		return c, err
	}
	c.Limits = limits
	return c, nil
}

// Retention returns the history retention of a topic: its namespace's settings, else the
// global ones. Engines take it as their herald.RetentionFunc.
func (c Config) Retention(t herald.Topic) herald.Retention {
	r := herald.Retention{Size: c.HistorySize, TTL: c.HistoryTTL}
	if r.Size <= 0 {
		r.Size = DefaultHistorySize
	}
	if r.TTL <= 0 {
		r.TTL = DefaultHistoryTTL
	}
	if t.Namespace() == ReservedNamespace {
		// Herald's own topics (the dashboard's stats) need no history to speak of.
		r = herald.Retention{Size: 10, TTL: time.Minute}
	}
	if t == mercure.LogTopic {
		return c.Mercure.Retention() // the Mercure log: its own history window
	}
	if ns, ok := c.Namespaces[t.Namespace()]; ok {
		if ns.HistorySize > 0 {
			r.Size = ns.HistorySize
		}
		if ns.HistoryTTL > 0 {
			r.TTL = ns.HistoryTTL
		}
	}
	return r
}

func (c Config) replayAll(t herald.Topic) bool {
	ns, ok := c.Namespaces[t.Namespace()]
	return ok && ns.Replay == "all"
}
