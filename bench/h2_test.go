package bench

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/engine/memory"
	"github.com/heraldpush/herald/internal/gatewaytest"
	"github.com/heraldpush/herald/internal/testserver"
	"github.com/heraldpush/herald/server"
)

// serveH2 runs a real Herald node through server.Serve, the path `herald serve` takes
// (h2c always, TLS with ALPN h2 when tlsOn), and returns its base URL.
func serveH2(t *testing.T, tlsOn bool) string {
	t.Helper()
	cfg := server.Config{}
	scheme := "http"
	if tlsOn {
		cfg.TLSCert, cfg.TLSKey, _ = testserver.SelfSignedCert(t)
		scheme = "https"
	}
	eng := memory.New(memory.Options{})
	srv, err := server.New(cfg, eng, server.Options{EngineName: "memory"})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	return scheme + "://" + gatewaytest.Serve(t, srv, eng)
}

// TestHTTP2Streams runs the stream modes over h2c and TLS h2 against a real node: every
// stream opens over HTTP/2 on exactly H2Conns TCP connections, and the accounting is the
// HTTP/1.1 path's (nothing lost or duplicated, resumed drops included).
func TestHTTP2Streams(t *testing.T) {
	servers := map[bool]string{false: serveH2(t, false), true: serveH2(t, true)}
	tests := []struct {
		name    string
		variant string
		cfg     Config
	}{
		{"h2c broadcast", HTTP2H2C, Config{Mode: ModeBroadcast, Conns: 60, Rate: 20}},
		{"tls broadcast", HTTP2TLS, Config{Mode: ModeBroadcast, Conns: 60, Rate: 20}},
		{"h2c idle", HTTP2H2C, Config{Mode: ModeIdle, Conns: 60}},
		{"tls idle", HTTP2TLS, Config{Mode: ModeIdle, Conns: 60}},
		{"h2c unicast", HTTP2H2C, Config{Mode: ModeUnicast, Conns: 30, Rate: 60}},
		{"tls reconnect", HTTP2TLS, Config{Mode: ModeReconnect, Conns: 12, Rate: 40, Churn: 100 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Servers = []string{servers[tt.variant == HTTP2TLS]}
			cfg.HTTP2, cfg.H2Conns, cfg.Insecure = tt.variant, 3, true
			cfg.Duration = time.Second
			cfg.ServerPID = os.Getpid() // the node runs in this process
			res := runBench(t, cfg)
			want := map[string]string{HTTP2H2C: "h2c", HTTP2TLS: "h2"}[tt.variant]
			if res.HTTP != want || res.H2Conns != 3 {
				t.Fatalf("http %q over %d connections; want %q over 3", res.HTTP, res.H2Conns, want)
			}
			if res.Connected != int64(cfg.Conns) || res.Lost != 0 || res.Duplicated != 0 || res.Incomplete != 0 {
				t.Fatalf("connected %d lost %d dup %d incomplete %d (%s); want %d and zeros",
					res.Connected, res.Lost, res.Duplicated, res.Incomplete, res.LastError, cfg.Conns)
			}
			if res.ServerRSSAfter <= 0 {
				t.Fatalf("server RSS %d; want it measured", res.ServerRSSAfter)
			}
			switch cfg.Mode {
			case ModeIdle:
				if res.Published != 0 || res.Deliveries != 0 || res.Errors != 0 {
					t.Fatalf("published %d deliveries %d errors %d; want zeros", res.Published, res.Deliveries, res.Errors)
				}
			case ModeReconnect:
				if res.Drops == 0 || res.Reconnects == 0 || res.Published == 0 {
					t.Fatalf("drops %d reconnects %d published %d; want streams dropped and resumed", res.Drops, res.Reconnects, res.Published)
				}
			default:
				if res.Published == 0 || res.Deliveries != res.Expected || res.Errors != 0 || res.Latency.P50 <= 0 {
					t.Fatalf("published %d deliveries %d of %d errors %d (%s) latency %+v", res.Published, res.Deliveries,
						res.Expected, res.Errors, res.LastError, res.Latency)
				}
			}
		})
	}
}

// TestHTTP2Config rejects protocol and scheme mismatches up front.
func TestHTTP2Config(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"https without tls", Config{Servers: []string{"https://127.0.0.1:1"}, Conns: 1}, "take --http2 tls"},
		{"https with h2c", Config{Servers: []string{"https://127.0.0.1:1"}, Conns: 1, HTTP2: HTTP2H2C}, "take --http2 tls"},
		{"tls to http", Config{Servers: []string{"http://127.0.0.1:1"}, Conns: 1, HTTP2: HTTP2TLS}, "needs an https://"},
		{"unknown variant", Config{Servers: []string{"http://127.0.0.1:1"}, Conns: 1, HTTP2: "h3"}, "unknown HTTP/2 variant"},
		{"tasks", Config{Mode: ModeTasks, Servers: []string{"http://127.0.0.1:1"}, Conns: 1, HTTP2: HTTP2H2C}, "HTTP/1.1 only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v; want one containing %q", err, tt.want)
			}
		})
	}
}
