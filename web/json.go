package web

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/heraldpush/herald/internal/httpjson"
)

// maxBodyBytes bounds a demo API request body.
const maxBodyBytes = 4 << 10

// writeJSON writes v as a JSON answer with the given status (one format with the API:
// internal/httpjson).
func writeJSON(w http.ResponseWriter, status int, v any) { httpjson.Write(w, status, v) }

// writeError writes a JSON error {"error","code"}.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	httpjson.WriteError(w, status, code, msg)
}

// decodeBody decodes an optional JSON object body into v: an empty body leaves v as it is.
// Unknown fields, trailing data, a non-JSON content type and bodies over maxBodyBytes are
// rejected with a 4xx JSON error, and decodeBody reports false.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSONType(ct) {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.More() {
			err = errors.New("trailing data after the JSON object")
		} else if _, e := dec.Token(); e != io.EOF {
			err = errors.New("trailing data after the JSON object")
		}
	}
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return true
	default:
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", "the request body is larger than 4 KiB")
			return false
		}
		writeError(w, http.StatusBadRequest, "invalid_json", "invalid request body: "+err.Error())
		return false
	}
}

// isJSONType reports whether a Content-Type header names JSON (parameters allowed).
func isJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}
