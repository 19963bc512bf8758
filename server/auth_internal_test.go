package server

import (
	"log/slog"
	"strings"
	"testing"
)

// net/http's error log goes through the server's logger, redacted.
func TestErrorLogRedacts(t *testing.T) {
	var b strings.Builder
	s := &Server{log: slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	s.errorLog().Printf("http: something about /v1/events?topic=x&token=%s", "eyJhbGciOi.secret.sig")
	out := b.String()
	if strings.Contains(out, "secret") || !strings.Contains(out, "token=REDACTED") || !strings.Contains(out, "source=net/http") {
		t.Fatalf("error log line: %s", out)
	}
}
