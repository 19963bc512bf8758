package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeMercureConfigLayers: the mercure: YAML block, HERALD_MERCURE_* variables, flags,
// and the MERCURE_PUBLISHER_JWT_KEY / MERCURE_SUBSCRIBER_JWT_KEY variables of Mercure
// deployments (used where no layer set the key).
func TestServeMercureConfigLayers(t *testing.T) {
	file := filepath.Join(t.TempDir(), "herald.yaml")
	os.WriteFile(file, []byte(`
mercure:
  enabled: true
  publisher_jwt_key: yaml-publisher-key-0123456789
  cors_origins: [https://app.example.com]
  history_size: 500
`), 0o600)
	t.Setenv("MERCURE_PUBLISHER_JWT_KEY", "env-publisher-key-0123456789")
	t.Setenv("MERCURE_SUBSCRIBER_JWT_KEY", "env-subscriber-key-0123456789")
	t.Setenv("HERALD_MERCURE_ANONYMOUS", "true")
	var cfg serveConfig
	fs := serveFlags(&cfg)
	fs.SetOutput(io.Discard)
	if err := layeredFlags(fs, []string{"--config", file, "--mercure-reset", "--mercure-history-ttl", "2h"}, &cfg); err != nil {
		t.Fatal(err)
	}
	applyMercureEnv(&cfg.Mercure)
	m := cfg.Mercure
	checks := []struct {
		name      string
		got, want any
	}{
		{"enabled from file", m.Enabled, true},
		{"publisher key: file over MERCURE_PUBLISHER_JWT_KEY", m.PublisherJWTKey, "yaml-publisher-key-0123456789"},
		{"subscriber key from MERCURE_SUBSCRIBER_JWT_KEY", m.SubscriberJWTKey, "env-subscriber-key-0123456789"},
		{"anonymous from HERALD_MERCURE_ANONYMOUS", m.Anonymous, true},
		{"reset flag", m.Reset, true},
		{"cors origins from file", strings.Join(m.CORSOrigins, ","), "https://app.example.com"},
		{"history size from file", m.HistorySize, 500},
		{"history ttl flag", m.HistoryTTL, 2 * time.Hour},
		{"cookie default", m.Cookie, "mercureAuthorization"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}
