package server

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/heraldpush/herald"
)

// apiError is the JSON body of every error answer.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	// IDs lists the events of a batch that were published before the error.
	IDs []string `json:"ids,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Error: msg, Code: code})
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
