package server

import (
	"log/slog"
	"strings"
	"testing"
)

func TestRedactText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"GET /v1/events?topic=a&token=eyJ.abc.def HTTP/1.1", "GET /v1/events?topic=a&token=REDACTED HTTP/1.1"},
		{"url=/v1/events?TOKEN=abc;x=1", "url=/v1/events?TOKEN=REDACTED;x=1"},
		{`"access_token=s3cr3t" and token%3Dabc`, `"access_token=REDACTED" and token%3DREDACTED`},
		{"http: TLS handshake error from 1.2.3.4:5: EOF", "http: TLS handshake error from 1.2.3.4:5: EOF"},
		{"token_expired: nothing to hide", "token_expired: nothing to hide"},
	}
	for _, c := range cases {
		if got := redactText(c.in); got != c.want {
			t.Errorf("redactText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

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
