package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/hub"
)

// MinAdminTokenLen is the shortest admin token accepted.
const MinAdminTokenLen = 16

// AuthConfig says who may subscribe and publish (see docs/security.md and package auth).
// With no JWT key source, Herald runs in development mode: anonymous subscribers may read
// every topic, and without API keys only loopback clients may publish.
type AuthConfig struct {
	// JWTKey is the HMAC secret for HS256/384/512 tokens, at least 16 bytes (use ≥ 32).
	JWTKey string `yaml:"jwt_key"`
	// JWTPublicKey is a PEM file with the public key (RSA, ECDSA, Ed25519) of RS*/PS*/ES*/
	// EdDSA tokens.
	JWTPublicKey string `yaml:"jwt_public_key"`
	// JWKSURL is a JSON Web Key Set URL, cached and refreshed.
	JWKSURL string `yaml:"jwks_url"`
	// JWTIssuer and JWTAudience, when set, must match the token's iss and aud.
	JWTIssuer   string `yaml:"jwt_issuer"`
	JWTAudience string `yaml:"jwt_audience"`
	// JWTLeeway is the clock skew allowed on exp and nbf (auth.DefaultLeeway when 0,
	// none when negative). A stream ends at the token's exp plus this leeway.
	JWTLeeway time.Duration `yaml:"jwt_leeway"`
	// APIKeys are publisher keys ("Authorization: Bearer <key>"), each allowed to publish
	// to any topic.
	APIKeys []string `yaml:"api_key"`
	// Cookie is the name of the cookie carrying a subscriber's token (auth.DefaultCookie).
	Cookie string `yaml:"auth_cookie"`
	// AdminToken, when set, is needed for /dashboard (and /metrics with ProtectMetrics) and
	// may subscribe to Herald's own topics (herald:stats). It is presented like a
	// subscriber token: Authorization: Bearer, the cookie, or ?token=.
	AdminToken string `yaml:"admin_token"`
	// ProtectMetrics requires the admin token for GET /metrics.
	ProtectMetrics bool `yaml:"protect_metrics"`
}

// Configured reports whether any credential is configured (JWT key source, API key or
// admin token). Herald's own topics then need a credential too.
func (c AuthConfig) Configured() bool {
	return c.verifies() || len(c.APIKeys) > 0 || c.AdminToken != ""
}

func (c AuthConfig) verifies() bool {
	return c.JWTKey != "" || c.JWTPublicKey != "" || c.JWKSURL != ""
}

// leeway returns the effective clock-skew allowance.
func (c AuthConfig) leeway() time.Duration {
	switch {
	case c.JWTLeeway == 0:
		return auth.DefaultLeeway
	case c.JWTLeeway < 0:
		return 0
	}
	return c.JWTLeeway
}

// security is the request-time state of authentication and limits.
type security struct {
	auth     *auth.Authenticator
	cookie   string
	leeway   time.Duration
	admin    [sha256.Size]byte
	hasAdmin bool
	// lockReserved: credentials are configured but no JWT key source, so anonymous
	// subscribers pass auth; Herald's own topics still need the admin token.
	lockReserved   bool
	protectMetrics bool
	limits         *limiters
}

// newSecurity builds the authenticator and limiters of cfg.
func newSecurity(cfg Config, logger *slog.Logger) (*security, error) {
	a := cfg.Auth
	policies := make(map[string]auth.NamespacePolicy, len(cfg.Namespaces))
	for name, ns := range cfg.Namespaces {
		if ns.Public || ns.Personal {
			policies[name] = auth.NamespacePolicy{Public: ns.Public, Personal: ns.Personal}
		}
	}
	var key []byte
	if a.JWTKey != "" {
		key = []byte(a.JWTKey)
	}
	au, err := auth.New(auth.Config{
		JWTKey:           key,
		JWTPublicKeyFile: a.JWTPublicKey,
		JWKSURL:          a.JWKSURL,
		Issuer:           a.JWTIssuer,
		Audience:         a.JWTAudience,
		APIKeys:          a.APIKeys,
		Namespaces:       policies,
		Cookie:           a.Cookie,
		Leeway:           a.JWTLeeway,
		Logger:           logger,
	})
	if err != nil {
		return nil, err
	}
	if a.AdminToken != "" && len(a.AdminToken) < MinAdminTokenLen {
		return nil, fmt.Errorf("admin-token of %d bytes is shorter than %d", len(a.AdminToken), MinAdminTokenLen)
	}
	if a.ProtectMetrics && a.AdminToken == "" {
		return nil, errors.New("protect-metrics needs an admin-token")
	}
	sec := &security{
		auth:           au,
		cookie:         a.Cookie,
		leeway:         a.leeway(),
		hasAdmin:       a.AdminToken != "",
		lockReserved:   a.Configured() && !au.VerifiesTokens(),
		protectMetrics: a.ProtectMetrics,
		limits:         newLimiters(cfg.Limits),
	}
	if sec.cookie == "" {
		sec.cookie = auth.DefaultCookie
	}
	if sec.hasAdmin {
		sec.admin = sha256.Sum256([]byte(a.AdminToken))
	}
	return sec, nil
}

// Authenticator returns the server's authenticator, e.g. to tell development mode
// (VerifiesTokens and HasAPIKeys both false) at start-up.
func (s *Server) Authenticator() *auth.Authenticator { return s.sec.auth }

// credential returns the subscriber credential of r in auth's order (Authorization header,
// cookie, query), or "".
func (sec *security) credential(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		const prefix = "bearer "
		if len(h) > len(prefix) && strings.EqualFold(h[:len(prefix)], prefix) {
			return strings.TrimSpace(h[len(prefix):])
		}
		return ""
	}
	if c, err := r.Cookie(sec.cookie); err == nil && c.Value != "" {
		return c.Value
	}
	return r.URL.Query().Get(auth.QueryParam)
}

// isAdmin reports whether r carries the admin token (compared in constant time).
func (sec *security) isAdmin(r *http.Request) bool {
	if !sec.hasAdmin {
		return false
	}
	cred := sec.credential(r)
	if cred == "" {
		return false
	}
	sum := sha256.Sum256([]byte(cred))
	return subtle.ConstantTimeCompare(sum[:], sec.admin[:]) == 1
}

// checkSubscribe authenticates a subscriber and authorizes its topics. The admin token reads
// Herald's own topics and, for other topics, counts as an anonymous client. Errors map with
// auth.HTTPStatus.
func (sec *security) checkSubscribe(r *http.Request, topics []herald.Topic) (auth.Identity, error) {
	if sec.isAdmin(r) {
		anon := auth.Identity{Anonymous: true}
		for _, t := range topics {
			if t.Namespace() == ReservedNamespace {
				continue
			}
			if d := sec.auth.AuthorizeSubscribe(anon, t); !d.Allowed {
				return auth.Identity{}, fmt.Errorf("%w: the admin token may read only %s: topics, not %q",
					auth.ErrForbidden, ReservedNamespace, t)
			}
		}
		return auth.Identity{}, nil // no subject (no per-user limit), no expiry
	}
	id, err := sec.auth.CheckSubscribe(r, topics)
	if err != nil {
		return id, err
	}
	if sec.lockReserved {
		for _, t := range topics {
			if t.Namespace() == ReservedNamespace && !sec.auth.Policy(t).Public {
				return id, fmt.Errorf("%w: topic %q needs the admin token", auth.ErrNoToken, t)
			}
		}
	}
	return id, nil
}

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
	if ok, retry := sec.limits.publishRate.Allow(publishKey(r, id)); !ok {
		s.countFailure("rate_limited")
		s.tooMany(w, r, retry, "rate_limited", "too many publish requests for this credential")
		return id, false
	}
	if d := s.cfg.Limits.ReadTimeout; d > 0 {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
	}
	return id, true
}

// authorizeEvents is the second publish hook: each event's topic must be allowed for id
// (403 otherwise). On refusal it has written the answer.
func (s *Server) authorizeEvents(w http.ResponseWriter, r *http.Request, id auth.Identity, msgs []herald.Message, batch bool) bool {
	for i := range msgs {
		if d := s.sec.auth.AuthorizePublish(r, id, msgs[i].Topic); !d.Allowed {
			err := d.Err()
			if batch {
				err = fmt.Errorf("events[%d]: %w", i, err)
			}
			s.countFailure(auth.ErrorCode(err))
			s.denied(w, r, err)
			return false
		}
	}
	return true
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

// adminGuard requires the admin token for /dashboard and, with ProtectMetrics, /metrics.
func (s *Server) adminGuard(next http.Handler) http.Handler {
	if !s.sec.hasAdmin {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := path.Clean("/" + r.URL.Path)
		guarded := p == "/dashboard" || strings.HasPrefix(p, "/dashboard/") ||
			(s.sec.protectMetrics && p == "/metrics")
		if guarded && !s.sec.isAdmin(r) {
			s.denied(w, r, fmt.Errorf("%w: %s needs the admin token", auth.ErrNoToken, p))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// tokenInText matches credential parameters in free text, as net/http's error log may
// carry a request URL.
var tokenInText = regexp.MustCompile(`(?i)((?:access_)?token(?:=|%3d))[^&;\s"'#]*`)

// redactText replaces the values of token= and access_token= anywhere in s.
func redactText(s string) string {
	if !strings.Contains(strings.ToLower(s), "token") {
		return s
	}
	return tokenInText.ReplaceAllString(s, "${1}"+auth.Redacted)
}

// errorLog returns the http.Server error log: net/http's messages at debug level, with
// tokens redacted.
func (s *Server) errorLog() *log.Logger {
	return log.New(redactingWriter{s.log}, "", 0)
}

type redactingWriter struct{ log *slog.Logger }

func (w redactingWriter) Write(p []byte) (int, error) {
	w.log.Debug(redactText(strings.TrimRight(string(p), "\n")), "source", "net/http")
	return len(p), nil
}

// GuardPublish admits requests to next only as far as POST /v1/publish would admit them
// (credentials, dev-mode loopback rule, publish rate). Other endpoints that publish on a
// client's behalf — the demo pages' API — mount behind it, so they never widen who may
// publish.
func (s *Server) GuardPublish(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if _, ok := s.admitPublish(w, r); !ok {
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
