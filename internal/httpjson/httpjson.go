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
	SetHeaders(w.Header())
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// The header values of every answer, shared: http.Header.Set would allocate each one per
// answer. Nothing modifies a header value in place (net/http copies them on WriteHeader).
var (
	contentType = []string{"application/json"}
	noStore     = []string{"no-store"}
	noSniff     = []string{"nosniff"}
)

// SetHeaders sets the headers of a JSON answer on hd, as Write does: JSON, never cached,
// never sniffed. Write sets them itself; SetHeaders is for answers written by hand.
func SetHeaders(hd http.Header) {
	hd["Content-Type"] = contentType
	hd["Cache-Control"] = noStore
	hd["X-Content-Type-Options"] = noSniff
}

// WriteError writes the error answer {"error": msg, "code": code} with status.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	Write(w, status, ErrorBody{Error: msg, Code: code})
}
