package mercure

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
)

// reservedTopic is the part of a topic that only the hub itself may publish to (the
// subscription events).
const reservedTopic = "/.well-known/mercure"

// Publish input errors.
var (
	// ErrReservedTopic reports a topic inside /.well-known/mercure (403).
	ErrReservedTopic = errors.New(`mercure: topic inside the reserved "/.well-known/mercure"`)
	// ErrInvalidUpdate reports a malformed update (400).
	ErrInvalidUpdate = errors.New("mercure: invalid update")
)

// servePublish handles POST /.well-known/mercure: authorise, parse the form, validate,
// publish to the log and answer the update's id.
func (h *Hub) servePublish(w http.ResponseWriter, r *http.Request) {
	g, err := h.pub.authorize(r.Context(), r, true)
	if err != nil || g == nil || !g.canPub {
		h.authError(w, r, err, "publisher")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, int64(h.cfg.MaxBodyBytes))
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("request body larger than %d bytes", h.cfg.MaxBodyBytes), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "malformed form: "+err.Error(), http.StatusBadRequest)
		return
	}
	u, err := h.parseUpdate(r)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, ErrReservedTopic) {
			status = http.StatusForbidden
		}
		http.Error(w, err.Error(), status)
		return
	}
	if !g.canPublish(u.Topics) {
		h.authError(w, r, fmt.Errorf("%w: mercure.publish does not allow these topics", auth.ErrForbidden), "publisher")
		return
	}
	if u.ID == "" {
		u.ID = "urn:uuid:" + newUUIDv7(time.Now())
	}
	if _, err := h.engine.Publish(r.Context(), []herald.Message{{Topic: LogTopic, Data: u.encode()}}); err != nil {
		h.log.Error("mercure: publish failed", "err", err)
		status := http.StatusInternalServerError
		if errors.Is(err, herald.ErrEngineUnavailable) {
			status = http.StatusServiceUnavailable
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	io.WriteString(w, u.ID)
}

// parseUpdate reads and validates the update of a publish form.
func (h *Hub) parseUpdate(r *http.Request) (*update, error) {
	f := r.PostForm
	u := &update{Topics: f["topic"], Private: len(f["private"]) != 0, ID: f.Get("id"), Type: f.Get("type"), Data: f.Get("data")}
	switch {
	case len(u.Topics) == 0:
		return nil, fmt.Errorf(`%w: missing "topic" parameter`, ErrInvalidUpdate)
	case len(u.Topics) > h.cfg.MaxTopics:
		return nil, fmt.Errorf("%w: more than %d topics", ErrInvalidUpdate, h.cfg.MaxTopics)
	}
	for _, t := range u.Topics {
		if err := checkTopic(t); err != nil {
			return nil, err
		}
	}
	if strings.ContainsAny(u.ID, "\r\n\x00") {
		return nil, fmt.Errorf(`%w: "id" contains CR, LF or NUL`, ErrInvalidUpdate)
	}
	if strings.HasPrefix(u.ID, "#") {
		return nil, fmt.Errorf(`%w: "id" must not start with "#"`, ErrInvalidUpdate)
	}
	if u.ID == earliest {
		return nil, fmt.Errorf(`%w: "id" must not be %q`, ErrInvalidUpdate, earliest)
	}
	if strings.ContainsAny(u.Type, "\r\n\x00") {
		return nil, fmt.Errorf(`%w: "type" contains CR, LF or NUL`, ErrInvalidUpdate)
	}
	if len(u.ID) > MaxSelectorLen || len(u.Type) > MaxSelectorLen {
		return nil, fmt.Errorf(`%w: "id" or "type" longer than %d bytes`, ErrInvalidUpdate, MaxSelectorLen)
	}
	if !utf8.ValidString(u.Data) {
		return nil, fmt.Errorf(`%w: "data" is not valid UTF-8`, ErrInvalidUpdate)
	}
	if s := f.Get("retry"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || s[0] == '+' {
			return nil, fmt.Errorf(`%w: invalid "retry" parameter`, ErrInvalidUpdate)
		}
		u.Retry = n
	}
	return u, nil
}

// checkTopic validates one topic of an update: not inside /.well-known/mercure, valid
// UTF-8 without control characters, at most MaxSelectorLen bytes.
func checkTopic(t string) error {
	if strings.Contains(t, reservedTopic) {
		return fmt.Errorf("%w: %q", ErrReservedTopic, t)
	}
	return checkSelector(t)
}

// checkSelector validates a topic or selector string.
func checkSelector(t string) error {
	if t == "" || len(t) > MaxSelectorLen {
		return fmt.Errorf("%w: a topic must be 1–%d bytes", ErrInvalidUpdate, MaxSelectorLen)
	}
	if !utf8.ValidString(t) {
		return fmt.Errorf("%w: topic %q is not valid UTF-8", ErrInvalidUpdate, t)
	}
	for _, c := range t {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: topic %q contains a control character", ErrInvalidUpdate, t)
		}
	}
	return nil
}

// authError answers an authorization failure: 401 as the reference hub does, 503 when the
// keys (JWKS) cannot be fetched.
func (h *Hub) authError(w http.ResponseWriter, r *http.Request, err error, role string) {
	if errors.Is(err, auth.ErrKeysUnavailable) {
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		return
	}
	if err == nil {
		err = ErrNoToken
	}
	h.log.Info("mercure: "+role+" unauthorized", "remote_addr", r.RemoteAddr, "err", err)
	writeUnauthorized(w)
}
