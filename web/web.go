// Package web serves Herald's built-in pages: the landing page, the live demo that a newcomer
// sees first, the operator dashboard, their static assets, and the small JSON API the demo
// drives.
//
// Everything under web/static is embedded in the binary; there is no build step and nothing
// is loaded from a CDN. The pages talk to the gateway's own public contract only: they
// subscribe with EventSource to /v1/events, so the demo exercises exactly what a customer's
// browser would.
//
// Paths the Handler owns (mount it at "/" behind the gateway's own routes):
//
//	GET  /                     landing page
//	GET  /demo                 the demo (Scan and Raffle tabs)
//	GET  /dashboard            static/dashboard.html when present, else a short notice
//	GET  /static/...           assets; "?v=<hash>" URLs are immutable, others revalidate by ETag
//	GET  /herald.js            the browser library (clients/js), and /herald.d.ts its types
//	POST /demo/scan            start a fake four-step pipeline; answers {"topic":"scan:<id>"}
//	GET  /demo/raffle          the raffle's current state and the id of its latest event
//	POST /demo/raffle/enter    enter the raffle; broadcasts the new odds on topic raffle:demo
//
// The demo publishes through Options.Publish, so its events take the same path as any other
// publisher's: engine, history, fan-out. Scan pipelines run in goroutines bound to the
// Handler; Close cancels them and waits for them to end.
package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/heraldpush/herald"
	heraldjs "github.com/heraldpush/herald/clients/js"
)

//go:embed static
var embedded embed.FS

// Defaults for Options.
const (
	// DefaultStepInterval is the mean time a demo pipeline step takes; each step's duration
	// is jittered by ±30%, so a whole scan takes about five seconds, like the seed's pipeline.
	DefaultStepInterval = 1200 * time.Millisecond
	// DefaultMaxScans bounds the demo pipelines running at once; more are refused with 429.
	DefaultMaxScans = 256
)

// PublishFunc publishes messages in order and returns their events; it has the signature of
// herald.Engine.Publish, which is usually what the server passes.
type PublishFunc func(ctx context.Context, msgs []herald.Message) ([]herald.Event, error)

// Options configure a Handler.
type Options struct {
	// Publish carries the demo's events into the gateway. Required for the demo API; without
	// it the pages are still served and the demo API answers 503.
	Publish PublishFunc
	// Logger receives the handler's logs; nil means slog.Default().
	Logger *slog.Logger
	// StepInterval is the mean duration of a demo pipeline step (DefaultStepInterval when 0).
	StepInterval time.Duration
	// MaxScans bounds concurrent demo pipelines (DefaultMaxScans when 0).
	MaxScans int
}

// Handler serves the pages, assets and demo API. Create it with New; it is safe for
// concurrent use. Call Close on shutdown, before closing the engine behind Publish.
type Handler struct {
	publish  PublishFunc
	log      *slog.Logger
	interval time.Duration
	mux      *http.ServeMux
	assets   map[string]*asset // by path under static/, e.g. "herald.css"

	ctx    context.Context // cancelled by Close; parent of every pipeline
	cancel context.CancelFunc
	scans  chan struct{} // semaphore bounding running pipelines
	mu     sync.Mutex    // guards closed and wg.Add against Close
	closed bool
	wg     sync.WaitGroup // running pipelines

	raffle raffle
}

// asset is one embedded file, prepared once: its bytes, type and strong ETag.
type asset struct {
	data  []byte
	ctype string
	etag  string // quoted, e.g. "\"3f2a…\""
	hash  string // first hex digits of the content hash, used as ?v=
}

// New returns a Handler serving the embedded pages.
func New(opts Options) *Handler {
	h := &Handler{
		publish:  opts.Publish,
		log:      opts.Logger,
		interval: opts.StepInterval,
		assets:   make(map[string]*asset),
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.log = h.log.With("component", "web")
	if h.interval <= 0 {
		h.interval = DefaultStepInterval
	}
	maxScans := opts.MaxScans
	if maxScans <= 0 {
		maxScans = DefaultMaxScans
	}
	h.scans = make(chan struct{}, maxScans)
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.loadAssets()

	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", h.page("index.html"))
	mux.HandleFunc("/demo", h.page("demo.html"))
	mux.HandleFunc("/dashboard", h.dashboard)
	mux.HandleFunc("/static/", h.static)
	lib := heraldjs.NewHandler()
	mux.Handle(heraldjs.ScriptPath, lib)
	mux.Handle(heraldjs.TypesPath, lib)
	mux.HandleFunc("/demo/scan", h.startScan)
	mux.HandleFunc("/demo/raffle", h.raffleState)
	mux.HandleFunc("/demo/raffle/enter", h.enterRaffle)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such page: "+r.URL.Path)
	})
	h.mux = mux
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Close stops every running demo pipeline (each publishes a final "cancelled" event so its
// browsers stop) and waits for them. Later demo requests answer 503. Close is idempotent.
func (h *Handler) Close() error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
	return nil
}

// loadAssets reads every embedded file, and rewrites references to other assets in the HTML
// pages into versioned URLs ("/static/herald.css?v=1a2b3c4d") so those can be cached for good.
func (h *Handler) loadAssets() {
	sub, err := fs.Sub(embedded, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	var pages []string
	_ = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		if path.Ext(p) == ".html" {
			pages = append(pages, p)
		}
		h.assets[p] = newAsset(p, data)
		return nil
	})
	for _, p := range pages {
		html := string(h.assets[p].data)
		for name, a := range h.assets {
			if path.Ext(name) == ".html" {
				continue
			}
			ref := "/static/" + name
			html = strings.ReplaceAll(html, `"`+ref+`"`, `"`+ref+"?v="+a.hash+`"`)
		}
		h.assets[p] = newAsset(p, []byte(html))
	}
}

func newAsset(name string, data []byte) *asset {
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = http.DetectContentType(data)
	}
	return &asset{data: data, ctype: ctype, etag: `"` + hexSum[:32] + `"`, hash: hexSum[:10]}
}

// securityHeaders are sent with Herald's own pages. Scripts and styles come only from this
// origin; the pages connect only to this origin (EventSource and fetch).
func securityHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
}

// page serves one embedded HTML page at a fixed path.
func (h *Handler) page(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		a := h.assets[name]
		if a == nil {
			writeError(w, http.StatusNotFound, "not_found", "page not built in: "+name)
			return
		}
		securityHeaders(w)
		h.serveAsset(w, r, a, "no-cache")
	}
}

// dashboard serves static/dashboard.html when the binary embeds it, else a short notice.
func (h *Handler) dashboard(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	if a := h.assets["dashboard.html"]; a != nil {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.serveAsset(w, r, a, "no-cache")
		return
	}
	securityHeaders(w)
	h.serveAsset(w, r, h.assets["nodashboard.html"], "no-cache")
}

// static serves /static/<name>. A request carrying the asset's current ?v= hash is cached for
// a year as immutable; any other is revalidated with its ETag.
func (h *Handler) static(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	a := h.assets[name]
	if a == nil {
		writeError(w, http.StatusNotFound, "not_found", "no such asset: "+name)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if v := r.URL.Query().Get("v"); v != "" && v == a.hash {
		h.serveAsset(w, r, a, "public, max-age=31536000, immutable")
		return
	}
	h.serveAsset(w, r, a, "public, max-age=0, must-revalidate")
}

func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request, a *asset, cacheControl string) {
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("Cache-Control", cacheControl)
	hd.Set("ETag", a.etag)
	// ServeContent answers If-None-Match with 304, and handles HEAD and Range.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.data))
}

// allowMethods answers 405 with a JSON error unless r's method is one of methods.
func allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here")
	return false
}

// errClosed is returned by demo operations after Close.
var errClosed = errors.New("web: handler closed")
