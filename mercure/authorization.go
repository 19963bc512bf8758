package mercure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldpush/herald/auth"
)

// Authorization errors; every one answers 401, as in the reference hub.
var (
	// ErrNoToken reports a request without a token where one is needed.
	ErrNoToken = errors.New("mercure: no token")
	// ErrInvalidAuthorization reports an Authorization header that is not "Bearer <JWT>".
	ErrInvalidAuthorization = errors.New(`mercure: invalid "Authorization" HTTP header`)
	// ErrNoOrigin reports a cookie-authorised publish without Origin or Referer.
	ErrNoOrigin = errors.New(`mercure: an "Origin" or a "Referer" HTTP header must be present to publish with a cookie`)
	// ErrOriginNotAllowed reports a cookie-authorised publish from an origin not allowed.
	ErrOriginNotAllowed = errors.New("mercure: origin not allowed to post updates")
	// ErrInvalidClaims reports a token whose mercure claim is malformed or too large.
	ErrInvalidClaims = errors.New("mercure: invalid mercure claim")
)

// queryParam is the query parameter that may carry a token (after the header, before the
// cookie).
const queryParam = "authorization"

// claims are a Mercure token's claims. The "mercure" claim may also be given under
// "https://mercure.rocks/".
type claims struct {
	jwt.RegisteredClaims
	Mercure    *mercureClaim `json:"mercure,omitempty"`
	Namespaced *mercureClaim `json:"https://mercure.rocks/,omitempty"`
}

// mercureClaim is the "mercure" claim: the selectors a token may publish to and receive
// private updates of, and a payload shown in subscription events.
type mercureClaim struct {
	Publish   []string `json:"publish"`
	Subscribe []string `json:"subscribe"`
	Payload   any      `json:"payload"`
}

// grant is what a verified token allows.
type grant struct {
	subject   string
	publish   []*selector // nil: the token has no mercure.publish
	canPub    bool
	subscribe []*selector
	rawSub    []string
	rawPub    []string
	payload   any
	expires   time.Time
}

// verifier checks one role's tokens.
type verifier struct {
	auth    *auth.Authenticator // nil: the role has no key
	cookie  string
	origins []string // publish origins, for cookie-authorised publishes
	cache   *selectorCache
}

// authorize finds and verifies r's token: the Authorization header, then the
// "authorization" query parameter, then the cookie. It returns nil and no error for a request
// without any. A cookie on a POST needs an allowed Origin (or Referer).
func (v *verifier) authorize(ctx context.Context, r *http.Request, publish bool) (*grant, error) {
	if hs, ok := r.Header["Authorization"]; ok {
		if len(hs) != 1 || len(hs[0]) < len("Bearer ")+1 || !strings.EqualFold(hs[0][:7], "Bearer ") {
			return nil, ErrInvalidAuthorization
		}
		return v.verify(ctx, strings.TrimSpace(hs[0][7:]))
	}
	if q := r.URL.Query(); q.Has(queryParam) {
		return v.verify(ctx, q.Get(queryParam))
	}
	c, err := r.Cookie(v.cookie)
	if err != nil {
		return nil, nil
	}
	if publish {
		if err := v.checkOrigin(r); err != nil {
			return nil, err
		}
	}
	return v.verify(ctx, c.Value)
}

// checkOrigin refuses a cookie-authorised publish from an origin not in the publish origins
// (a browser sends the cookie on cross-site requests too).
func (v *verifier) checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		ref := r.Header.Get("Referer")
		if ref == "" {
			return ErrNoOrigin
		}
		u, err := url.Parse(ref)
		if err != nil {
			return fmt.Errorf("%w: bad Referer: %w", ErrNoOrigin, err)
		}
		origin = u.Scheme + "://" + u.Host
	}
	if slices.Contains(v.origins, "*") || slices.Contains(v.origins, origin) {
		return nil
	}
	return fmt.Errorf("%w: %q", ErrOriginNotAllowed, origin)
}

// verify checks tok and compiles its selectors.
func (v *verifier) verify(ctx context.Context, tok string) (*grant, error) {
	if v.auth == nil {
		return nil, fmt.Errorf("%w: no key is configured for this role", auth.ErrInvalidToken)
	}
	if tok == "" {
		return nil, fmt.Errorf("%w: empty token", auth.ErrInvalidToken)
	}
	var c claims
	if err := v.auth.VerifyClaims(ctx, tok, &c); err != nil {
		return nil, err
	}
	m := c.Mercure
	if c.Namespaced != nil {
		m = c.Namespaced
	}
	g := &grant{subject: c.Subject}
	if c.ExpiresAt != nil {
		g.expires = c.ExpiresAt.Time
	}
	if m == nil {
		return g, nil
	}
	if len(m.Publish) > DefaultMaxClaimSelectors || len(m.Subscribe) > DefaultMaxClaimSelectors {
		return nil, fmt.Errorf("%w: more than %d selectors", ErrInvalidClaims, DefaultMaxClaimSelectors)
	}
	for _, s := range append(slices.Clip(m.Publish), m.Subscribe...) {
		if len(s) > MaxSelectorLen {
			return nil, fmt.Errorf("%w: a selector is longer than %d bytes", ErrInvalidClaims, MaxSelectorLen)
		}
	}
	g.payload, g.rawPub, g.rawSub = m.Payload, m.Publish, m.Subscribe
	g.canPub = m.Publish != nil
	for _, s := range m.Publish {
		g.publish = append(g.publish, v.cache.get(s))
	}
	for _, s := range m.Subscribe {
		g.subscribe = append(g.subscribe, v.cache.get(s))
	}
	return g, nil
}

// canPublish reports whether every topic matches one of the token's publish selectors.
func (g *grant) canPublish(topics []string) bool {
	for _, t := range topics {
		ok := false
		for _, s := range g.publish {
			if s.match(t) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// writeUnauthorized answers 401 as the reference hub does (plain text, no detail).
func writeUnauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="mercure"`)
	http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
}
