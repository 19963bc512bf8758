// Package httpjson writes Herald's JSON answers, so the API (server) and the demo pages' API
// (web) answer, and fail, in one format: {"error": "…", "code": "…"}.
package httpjson

import (
	"encoding/json"
	"net/http"
)

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	// IDs lists the events of a batch that were published before the error.
	IDs []string `json:"ids,omitempty"`
}

// Write writes v as a JSON answer with status. Answers are never cached and never sniffed.
func Write(w http.ResponseWriter, status int, v any) {
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes the error answer {"error": msg, "code": code} with status.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	Write(w, status, ErrorBody{Error: msg, Code: code})
}
