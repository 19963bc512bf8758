package server

// Admission: the checks a request passes before it is served — rate of new connections,
// credentials, per-IP and per-user slots, publish rate, presence access — and the answer
// when it is denied.

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/hub"
)

// admitStream is the subscribe hook of handleEvents, called once the topics are parsed: it
// applies the per-IP rate of new connections, authenticates and authorizes the subscriber,
// takes the per-IP and per-user connection slots, and sets req.User and req.Deadline (the
// token's expiry). On refusal it has written the answer and returns ok false; otherwise
// release must be called when the stream ends.
//
// The rate is checked before the token so that a flood of bogus tokens costs no signature
// checks.
func (s *Server) admitStream(w http.ResponseWriter, r *http.Request, req *hub.Request) (release func(), ok bool) {
	sec := s.sec
	ip := clientIP(r)
	if ok, retry := sec.limits.connRate.Allow(ip); !ok {
		s.tooMany(w, r, retry, "rate_limited", "too many new connections from this address")
		return nil, false
	}
	id, err := sec.checkSubscribe(r, req.Topics)
	if err != nil {
		s.denied(w, r, err)
		return nil, false
	}
	release, reason := sec.limits.acquireConn(ip, id.Subject)
	if release == nil {
		s.tooMany(w, r, s.cfg.Retry, "too_many_streams", reason)
		return nil, false
	}
	req.User = id.Subject
	if !id.ExpiresAt.IsZero() {
		req.Deadline = id.ExpiresAt.Add(sec.leeway)
	}
	return release, true
}

// admitPublish is the first publish hook of handlePublish, before the body is read: it
// authenticates the publisher (Authorization header only), refuses anonymous publishers at
// once where they may not publish at all, applies the publish rate and the body read
// timeout. On refusal it has written the answer.
func (s *Server) admitPublish(w http.ResponseWriter, r *http.Request) (auth.Identity, bool) {
	sec := s.sec
	id, err := sec.auth.Publisher(r)
	if err != nil {
		s.countFailure(auth.ErrorCode(err))
		s.denied(w, r, err)
		return id, false
	}
	if id.Anonymous {
		// An anonymous decision does not depend on the topic.
		if d := sec.auth.AuthorizePublish(r, id, ""); !d.Allowed {
			s.countFailure(auth.ErrorCode(d.Err()))
			s.denied(w, r, d.Err())
			return id, false
		}
	}
	// The key is built only when there is a rate to apply (it costs a parse and allocations).
	if lim := sec.limits.publishRate; lim != nil {
		if ok, retry := lim.Allow(publishKey(r, id)); !ok {
			s.countFailure("rate_limited")
			s.tooMany(w, r, retry, "rate_limited", "too many publish requests for this credential")
			return id, false
		}
	}
	if d := s.cfg.Limits.ReadTimeout; d > 0 {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
	}
	return id, true
}

// admitPresence guards GET /v1/presence and /v1/online: who is online is backend data, so
// it needs an API key or the admin token (Authorization header), or in development mode
// (no credentials configured) a loopback client. A JWT is refused: its patterns say nothing
// about other users. On refusal it has written the answer.
func (s *Server) admitPresence(w http.ResponseWriter, r *http.Request) bool {
	sec := s.sec
	if sec.hasAdmin && r.Header.Get("Authorization") != "" && sec.isAdmin(r) {
		return true
	}
	id, err := sec.auth.Publisher(r)
	switch {
	case err != nil:
		s.denied(w, r, err)
		return false
	case id.APIKey:
		return true
	case !id.Anonymous:
		s.denied(w, r, fmt.Errorf("%w: presence needs an API key", auth.ErrForbidden))
		return false
	}
	if sec.hasAdmin {
		// Credentials are configured: DecidePublish would not know about the admin token.
		s.denied(w, r, fmt.Errorf("%w: presence needs an API key or the admin token", auth.ErrNoToken))
		return false
	}
	if d := sec.auth.AuthorizePublish(r, id, ""); !d.Allowed {
		s.denied(w, r, d.Err())
		return false
	}
	return true
}

// publishKey is the publish-rate key of a publisher: its API key (hashed) or token subject,
// else its address.
func publishKey(r *http.Request, id auth.Identity) string {
	switch {
	case id.APIKey:
		sum := sha256.Sum256([]byte(r.Header.Get("Authorization")))
		return "key:" + string(sum[:16])
	case !id.Anonymous:
		return "sub:" + id.Subject
	default:
		return "ip:" + clientIP(r)
	}
}

// denied answers an auth error with its status, code and WWW-Authenticate header.
func (s *Server) denied(w http.ResponseWriter, r *http.Request, err error) {
	status := auth.HTTPStatus(err)
	if v := auth.WWWAuthenticate(err); v != "" {
		w.Header().Set("WWW-Authenticate", v)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.log.Debug("request denied", "method", r.Method, "url", auth.RedactURL(r.URL.RequestURI()),
			"remote", r.RemoteAddr, "status", status, "err", err)
	}
	writeError(w, status, auth.ErrorCode(err), err.Error())
}
