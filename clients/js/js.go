// Package js embeds herald.js, Herald's browser library, and its TypeScript declarations, so
// that the server can serve them at /herald.js and /herald.d.ts (Go's embed cannot reach a
// parent directory, hence this package beside the files).
//
// The files are the npm package's own sources, served as they are: no build step. A request
// carrying the current ?v= hash (see Version) is cached for a year as immutable; any other is
// revalidated with the strong ETag, so a deploy reaches every browser at its next load.
package js

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

//go:embed herald.js
var script []byte

//go:embed herald.d.ts
var types []byte

// Paths the Handler serves.
const (
	ScriptPath = "/herald.js"
	TypesPath  = "/herald.d.ts"
)

type file struct {
	data  []byte
	ctype string
	etag  string
	hash  string
}

func newFile(data []byte, ctype string) file {
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	return file{data: data, ctype: ctype, etag: `"` + h[:32] + `"`, hash: h[:10]}
}

// Handler serves ScriptPath and TypesPath; anything else is 404. Create it with NewHandler.
type Handler struct{ files map[string]file }

// NewHandler returns a Handler over the embedded files.
func NewHandler() *Handler {
	return &Handler{files: map[string]file{
		ScriptPath: newFile(script, "text/javascript; charset=utf-8"),
		TypesPath:  newFile(types, "application/typescript; charset=utf-8"),
	}}
}

// Version is the content hash of herald.js; "/herald.js?v=<Version>" may be cached for good.
func (h *Handler) Version() string { return h.files[ScriptPath].hash }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := h.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", f.ctype)
	hd.Set("X-Content-Type-Options", "nosniff")
	// A module script loaded from another origin needs CORS; the file is public.
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("ETag", f.etag)
	if v := r.URL.Query().Get("v"); v != "" && v == f.hash {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "public, max-age=0, must-revalidate")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
}
