package server

// net/http's error log, redacted (auth.RedactText): credentials never reach a log line.

import (
	"log"
	"log/slog"
	"strings"

	"github.com/heraldpush/herald/auth"
)

// errorLog returns the http.Server error log: net/http's messages at debug level, with
// tokens redacted.
func (s *Server) errorLog() *log.Logger {
	return log.New(redactingWriter{s.log}, "", 0)
}

type redactingWriter struct{ log *slog.Logger }

func (w redactingWriter) Write(p []byte) (int, error) {
	w.log.Debug(auth.RedactText(strings.TrimRight(string(p), "\n")), "source", "net/http")
	return len(p), nil
}
