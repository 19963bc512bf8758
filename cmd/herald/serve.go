package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/bridge"
	"github.com/heraldpush/herald/engine/memory"
	natsengine "github.com/heraldpush/herald/engine/nats"
	redisengine "github.com/heraldpush/herald/engine/redis"
	"github.com/heraldpush/herald/hub"
	"github.com/heraldpush/herald/metrics"
	"github.com/heraldpush/herald/server"
	"github.com/heraldpush/herald/web"
	"github.com/nats-io/nats.go"
)

// serveConfig is everything `herald serve` reads: the server's settings plus the engine and
// logging choices. The YAML file decodes into it directly.
type serveConfig struct {
	server.Config `yaml:",inline"`
	Engine        string `yaml:"engine"`
	RedisURL      string `yaml:"redis_url"`
	RedisCluster  bool   `yaml:"redis_cluster"`
	NATSURL       string `yaml:"nats_url"`
	NATSCreds     string `yaml:"nats_creds"`
	// Bridge maps raw broker channels (Redis Pub/Sub, Redis Streams, NATS subjects) to
	// topics; its outbox rules read PostgreSQL outbox tables (outbox.go).
	Bridge     []bridge.Rule `yaml:"bridge"`
	Demo       bool          `yaml:"demo"`
	DebugAddr  string        `yaml:"debug_addr"`
	LogLevel   string        `yaml:"log_level"`
	LogFormat  string        `yaml:"log_format"`
	ConfigFile string        `yaml:"-"`
}

func serveFlags(cfg *serveConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c := &cfg.Config
	fs.StringVar(&cfg.ConfigFile, "config", "", "YAML configuration file (keys are the flag names with _ for -)")
	fs.StringVar(&c.Addr, "addr", server.DefaultAddr, "listen address")
	fs.StringVar(&cfg.Engine, "engine", "memory", "engine: memory, redis or nats")
	fs.StringVar(&cfg.RedisURL, "redis-url", "redis://127.0.0.1:6379/0", "Redis URL for --engine redis (password and TLS as go-redis parses them: redis://:pw@host:6379/0, rediss://…)")
	fs.BoolVar(&cfg.RedisCluster, "redis-cluster", false, "the Redis URL names a Redis Cluster (redis://a:7000?addr=b:7001&addr=c:7002)")
	fs.StringVar(&cfg.NATSURL, "nats-url", natsengine.DefaultURL, "NATS URL(s), comma-separated, for --engine nats")
	fs.StringVar(&cfg.NATSCreds, "nats-creds", "", "NATS credentials file (JWT + NKey) for --engine nats")
	fs.BoolVar(&cfg.Demo, "demo", true, "serve the demo's publish API at /demo (it obeys the publish rules: loopback only in development mode, a publisher credential otherwise)")
	fs.DurationVar(&c.Heartbeat, "heartbeat", hub.DefaultHeartbeat, "idle interval after which a stream gets a heartbeat")
	fs.StringVar(&c.HeartbeatEvent, "heartbeat-event", "", "send heartbeats as events of this name (default: comment lines)")
	fs.DurationVar(&c.Retry, "retry", hub.DefaultRetry, "reconnect delay sent to clients (retry:)")
	fs.DurationVar(&c.MaxLifetime, "max-lifetime", 0, "end streams after this long, ±10% jitter (0 = never)")
	fs.IntVar(&c.HistorySize, "history-size", server.DefaultHistorySize, "events kept per topic")
	fs.DurationVar(&c.HistoryTTL, "history-ttl", server.DefaultHistoryTTL, "how long events are kept")
	fs.DurationVar(&c.Drain, "drain", server.DefaultDrain, "window over which streams are ended on shutdown")
	fs.Var(&listFlag{p: &c.CORSOrigins}, "cors-origin", "allowed CORS origin (repeatable; * for any, without credentials)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate file (enables HTTPS with HTTP/2)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key file")
	fs.IntVar(&c.MaxQueueBytes, "max-queue-bytes", hub.DefaultMaxQueueBytes, "per-connection bound of unwritten bytes; a client over it is cut off as a slow consumer")
	fs.IntVar(&c.SendBuffer, "send-buffer", hub.DefaultSendBuffer, "kernel send buffer (SO_SNDBUF) of each HTTP/1.1 stream in bytes; -1 leaves it to the kernel's autotuning")
	fs.IntVar(&c.MaxMessageBytes, "max-message-bytes", server.DefaultMaxMessageBytes, "largest event data in bytes")
	fs.IntVar(&c.MaxBatch, "max-batch", server.DefaultMaxBatch, "most events in one publish request")
	fs.IntVar(&c.MaxBodyBytes, "max-body-bytes", server.DefaultMaxBodyBytes, "largest publish request body in bytes")
	fs.IntVar(&c.MaxTopics, "max-topics", server.DefaultMaxTopics, "most topics in one stream")
	fs.BoolVar(&c.NoHijack, "no-hijack", false, "serve every stream from its HTTP handler goroutine (default: plain HTTP/1.1 streams and HTTP/2 streams of the detached engine on Linux are driven by a small writer pool)")
	fs.StringVar(&c.HTTP2Streams, "http2-streams", server.HTTP2Detached, "HTTP/2 server: detached (Herald's engine: event streams without a goroutine each, on Linux) or std (net/http's HTTP/2 server)")
	fs.BoolVar(&c.NoPublishLane, "no-publish-lane", false, "serve publish connections with net/http (default: cleartext connections that start with POST /v1/publish are served by Herald's HTTP/1.1 publish lane wherever --http2-streams detached runs)")
	fs.StringVar(&cfg.DebugAddr, "debug-addr", "", "serve Go's pprof profiles and a copy of /metrics (up through a drain) on this address (e.g. 127.0.0.1:6060; keep it private)")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&cfg.LogFormat, "log-format", "text", "log format: text or json")
	addSecurityFlags(fs, c) // serve_auth.go
	// serve_mercure.go:
	addMercureFlags(fs, &c.Mercure)
	return fs
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg serveConfig
	fs := serveFlags(&cfg)
	fs.SetOutput(stderr)
	if err := layeredFlags(fs, args, &cfg); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))}
	}
	applyMercureEnv(&cfg.Mercure) // serve_mercure.go
	logger, err := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return usageError{err}
	}
	met := metrics.New(metrics.Options{Version: version})
	if cfg.DebugAddr != "" {
		closeDebug, err := serveDebug(cfg.DebugAddr, met, logger)
		if err != nil {
			return err
		}
		defer closeDebug() // after the drain: the debug address shows herald_draining throughout
	}
	if err := bridge.CompileRules(cfg.Bridge); err != nil { // errors name the rule's index in the file
		return usageError{err}
	}
	var outboxRules []bridge.Rule
	cfg.Bridge, outboxRules = bridge.SplitOutbox(cfg.Bridge)
	engine, err := newEngine(ctx, &cfg, logger)
	if err != nil {
		return err
	}
	defer engine.Close()
	srv, err := server.New(cfg.Config, engine, server.Options{Logger: logger, EngineName: cfg.Engine, Metrics: met})
	if err != nil {
		return usageError{err}
	}
	relays, err := outboxRelays(outboxRules, engine, srv.Config().MaxMessageBytes, met, logger) // outbox.go
	if err != nil {
		return usageError{err}
	}
	stopRelays := func() {}
	defer func() { stopRelays() }() // runs before the engine closes
	publish := srv.Publish          // the demo's events take the publish pipeline (server/publish.go)
	if !cfg.Demo {
		publish = nil
	}
	pages := web.New(web.Options{Publish: publish, Logger: logger})
	defer pages.Close()
	srv.Handle("/", srv.GuardPublish(pages)) // the demo's publish API obeys the publish rules
	eff := srv.Config()
	return srv.ListenAndServe(ctx, func(addr net.Addr) {
		scheme := "http"
		if eff.TLSCert != "" {
			scheme = "https"
		}
		logger.Info("herald is serving", "url", scheme+"://"+addr.String(), "engine", cfg.Engine, "version", version,
			"history_size", eff.HistorySize, "history_ttl", eff.HistoryTTL, "heartbeat", eff.Heartbeat,
			"max_lifetime", eff.MaxLifetime, "http2", "h2c"+map[bool]string{true: "+h2", false: ""}[eff.TLSCert != ""],
			"http2_streams", srv.HTTP2Streams())
		logSecurity(logger, srv, addr) // serve_auth.go
		// serve_mercure.go:
		logMercure(logger, eff.Mercure)
		if cfg.Engine == "memory" {
			logger.Info("memory engine: history lives in this process only; use --engine redis or nats to run several nodes")
		}
		stopRelays = runRelays(ctx, relays) // outbox.go
	})
}

// newEngine builds the engine named in cfg.
func newEngine(ctx context.Context, cfg *serveConfig, logger *slog.Logger) (herald.Engine, error) {
	switch cfg.Engine {
	case "memory", "":
		cfg.Engine = "memory"
		if len(cfg.Bridge) > 0 {
			return nil, usageError{errors.New("bridge rules need --engine redis or nats")}
		}
		return memory.New(memory.Options{Retention: cfg.Config.Retention, Logger: logger}), nil
	case "redis":
		e, err := redisengine.New(ctx, redisengine.Options{URL: cfg.RedisURL, Cluster: cfg.RedisCluster,
			Retention: cfg.Config.Retention, Bridge: cfg.Bridge, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("redis engine: %w", err)
		}
		return e, nil
	case "nats":
		var opts []nats.Option
		if cfg.NATSCreds != "" {
			opts = append(opts, nats.UserCredentials(cfg.NATSCreds))
		}
		namespaces := map[string]herald.Retention{}
		for name := range cfg.Namespaces {
			namespaces[name] = cfg.Config.Retention(herald.Topic(name + ":"))
		}
		e, err := natsengine.New(ctx, natsengine.Options{URL: cfg.NATSURL, NATSOptions: opts,
			Default: cfg.Config.Retention("default"), Namespaces: namespaces, Retention: cfg.Config.Retention,
			Bridge: cfg.Bridge, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("nats engine: %w", err)
		}
		return e, nil
	default:
		return nil, usageError{fmt.Errorf("unknown engine %q (want memory, redis or nats)", cfg.Engine)}
	}
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("log-format %q: want text or json", format)
	}
}

// serveDebug serves net/http/pprof and a second copy of /metrics on addr until the returned
// function is called. It stays open while the node drains, when the main listener is
// already closed, so a scrape of it sees herald_draining.
func serveDebug(addr string, met *metrics.Metrics, logger *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("debug-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/metrics", met.Handler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	logger.Info("pprof profiles and metrics", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() { hs.Close() }, nil
}
