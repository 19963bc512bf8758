package server

import (
	"errors"
	"net/http"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpjson"
)

// apiError is the JSON body of every error answer (one format with web/: internal/httpjson).
type apiError = httpjson.ErrorBody

// writeJSON writes v as a JSON answer.
func writeJSON(w http.ResponseWriter, status int, v any) { httpjson.Write(w, status, v) }

// writeError writes an error answer {"error","code"}.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	httpjson.WriteError(w, status, code, msg)
}

// errorStatus maps an error from the domain or an engine to a status and code.
func errorStatus(err error) (int, string) {
	switch {
	case errors.Is(err, herald.ErrInvalidTopic):
		return http.StatusBadRequest, "invalid_topic"
	case errors.Is(err, herald.ErrInvalidEventName):
		return http.StatusBadRequest, "invalid_event"
	case errors.Is(err, herald.ErrTopicClosed):
		return http.StatusConflict, "topic_closed"
	case errors.Is(err, herald.ErrEngineUnavailable):
		return http.StatusServiceUnavailable, "engine_unavailable"
	case errors.Is(err, herald.ErrClosed):
		return http.StatusServiceUnavailable, "shutting_down"
	default:
		return http.StatusInternalServerError, "internal"
	}
}
