package server

// Log redaction: credentials never reach a log line.

import (
	"log"
	"log/slog"
	"regexp"
	"strings"

	"github.com/heraldpush/herald/auth"
)

// tokenInText matches credential parameters in free text, as net/http's error log may
// carry a request URL.
var tokenInText = regexp.MustCompile(`(?i)((?:access_)?token(?:=|%3d))[^&;\s"'#]*`)

// redactText replaces the values of token= and access_token= anywhere in s.
func redactText(s string) string {
	if !strings.Contains(strings.ToLower(s), "token") {
		return s
	}
	return tokenInText.ReplaceAllString(s, "${1}"+auth.Redacted)
}

// errorLog returns the http.Server error log: net/http's messages at debug level, with
// tokens redacted.
func (s *Server) errorLog() *log.Logger {
	return log.New(redactingWriter{s.log}, "", 0)
}

type redactingWriter struct{ log *slog.Logger }

func (w redactingWriter) Write(p []byte) (int, error) {
	w.log.Debug(redactText(strings.TrimRight(string(p), "\n")), "source", "net/http")
	return len(p), nil
}
