package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldpush/herald"
)

// Defaults for Config.
const (
	DefaultCookie          = "herald_token"
	DefaultLeeway          = 30 * time.Second
	DefaultJWKSTimeout     = 5 * time.Second
	DefaultJWKSRefresh     = 15 * time.Minute
	DefaultJWKSMinInterval = 30 * time.Second
	// MaxTokenLen bounds the size of a token accepted from any source.
	MaxTokenLen = 8 << 10
	// QueryParam is the query parameter that carries a subscriber's token.
	QueryParam = "token"
)

// Config configures an Authenticator. Any combination of JWTKey, JWTPublicKeyFile and
// JWKSURL may be set; each verifies only its own algorithm family.
type Config struct {
	// JWTKey is the HMAC secret (HS256/384/512), at least MinHMACKeyLen bytes.
	JWTKey []byte
	// JWTPublicKeyFile is a PEM file with a public key or certificate: RSA (RS*/PS*),
	// ECDSA (ES256/384/512 by curve) or Ed25519 (EdDSA).
	JWTPublicKeyFile string
	// JWKSURL is a JSON Web Key Set URL (RSA, EC and Ed25519 keys; kid selects the key).
	JWKSURL string
	// APIKeys are publisher keys, sent as "Authorization: Bearer <key>"; each may publish
	// to any topic.
	APIKeys []string
	// Namespaces holds each namespace's policy; a namespace not listed is neither public
	// nor personal.
	Namespaces map[string]NamespacePolicy
	// Cookie is the name of the cookie carrying a subscriber's token (DefaultCookie).
	Cookie string
	// Leeway is the clock skew allowed on exp and nbf (DefaultLeeway; negative for none).
	Leeway time.Duration
	// Issuer and Audience, when set, must match the token's iss and aud.
	Issuer   string
	Audience string
	// HTTPClient fetches the JWKS (http.DefaultClient when nil); the fetch is bounded by
	// JWKSTimeout (DefaultJWKSTimeout).
	HTTPClient  *http.Client
	JWKSTimeout time.Duration
	// JWKSRefresh is how old the cached key set may grow before it is refreshed in the
	// background (DefaultJWKSRefresh).
	JWKSRefresh time.Duration
	// JWKSMinInterval is the least time between two fetches, also for unknown kids
	// (DefaultJWKSMinInterval).
	JWKSMinInterval time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Logger receives warnings about key fetches (slog.Default when nil).
	Logger *slog.Logger
}

// Authenticator verifies the credentials of subscribers and publishers. It is safe for
// concurrent use.
type Authenticator struct {
	hmac      *verificationKey
	pem       *verificationKey
	jwks      *jwks
	apiKeys   [][sha256.Size]byte
	policies  map[string]NamespacePolicy
	cookie    string
	parser    *jwt.Parser
	now       func() time.Time
	verifying bool // some JWT key source is configured
}

// New builds an Authenticator from cfg. It reads the public key file but does not fetch the
// JWKS: the first token does, and a failure then answers ErrKeysUnavailable.
func New(cfg Config) (*Authenticator, error) {
	a := &Authenticator{cookie: cfg.Cookie, now: cfg.Now, policies: cfg.Namespaces}
	if a.cookie == "" {
		a.cookie = DefaultCookie
	}
	if a.now == nil {
		a.now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	var methods []string
	if len(cfg.JWTKey) > 0 {
		if len(cfg.JWTKey) < MinHMACKeyLen {
			return nil, fmt.Errorf("auth: JWT key of %d bytes is shorter than %d", len(cfg.JWTKey), MinHMACKeyLen)
		}
		a.hmac = &verificationKey{key: slices.Clone(cfg.JWTKey), algs: hmacAlgs}
		methods = append(methods, hmacAlgs...)
	}
	if cfg.JWTPublicKeyFile != "" {
		data, err := os.ReadFile(cfg.JWTPublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("auth: read JWT public key: %w", err)
		}
		k, err := parsePublicKeyPEM(data)
		if err != nil {
			return nil, fmt.Errorf("auth: JWT public key %s: %w", cfg.JWTPublicKeyFile, err)
		}
		a.pem = &k
		methods = append(methods, k.algs...)
	}
	if cfg.JWKSURL != "" {
		if !strings.HasPrefix(cfg.JWKSURL, "https://") && !strings.HasPrefix(cfg.JWKSURL, "http://") {
			return nil, fmt.Errorf("auth: JWKS URL %q is not http(s)", cfg.JWKSURL)
		}
		j := &jwks{
			url: cfg.JWKSURL, client: cfg.HTTPClient, timeout: cfg.JWKSTimeout,
			refresh: cfg.JWKSRefresh, minInterval: cfg.JWKSMinInterval, now: a.now, log: log,
		}
		if j.client == nil {
			j.client = http.DefaultClient
		}
		if j.timeout <= 0 {
			j.timeout = DefaultJWKSTimeout
		}
		if j.refresh <= 0 {
			j.refresh = DefaultJWKSRefresh
		}
		if j.minInterval <= 0 {
			j.minInterval = DefaultJWKSMinInterval
		}
		a.jwks = j
		methods = append(methods, rsaAlgs...)
		methods = append(methods, "ES256", "ES384", "ES512", "EdDSA")
	}
	for _, k := range cfg.APIKeys {
		if k == "" {
			return nil, errors.New("auth: empty API key")
		}
		// Hashing first makes every comparison the same length and constant-time.
		a.apiKeys = append(a.apiKeys, sha256.Sum256([]byte(k)))
	}
	for ns, p := range cfg.Namespaces {
		if p.Public && p.Personal {
			return nil, fmt.Errorf("auth: namespace %q cannot be both public and personal", ns)
		}
	}
	a.verifying = len(methods) > 0
	leeway := cfg.Leeway
	if leeway == 0 {
		leeway = DefaultLeeway
	} else if leeway < 0 {
		leeway = 0
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(slices.Compact(methods)),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(a.now),
		jwt.WithExpirationRequired(),
		jwt.WithStrictDecoding(),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	a.parser = jwt.NewParser(opts...)
	return a, nil
}

// VerifiesTokens reports whether any JWT key source is configured. Without one Herald runs
// in development mode: anonymous subscribers everywhere, publishers only from loopback
// (or with an API key).
func (a *Authenticator) VerifiesTokens() bool { return a.verifying }

// HasAPIKeys reports whether publisher API keys are configured.
func (a *Authenticator) HasAPIKeys() bool { return len(a.apiKeys) > 0 }

// Subscriber authenticates a subscriber from the first credential found, in this order:
// the Authorization: Bearer header, the cookie, the "token" query parameter. A request
// without any is anonymous (not an error: policy decides); a credential that is present but
// does not verify is an error (401), as is any token when no JWT key is configured.
func (a *Authenticator) Subscriber(r *http.Request) (Identity, error) {
	tok, src, err := a.subscriberToken(r)
	if err != nil {
		return Identity{}, err
	}
	if tok == "" {
		return Identity{Anonymous: true}, nil
	}
	id, err := a.VerifyToken(r.Context(), tok)
	if err != nil {
		return Identity{}, fmt.Errorf("%s: %w", src, err)
	}
	return id, nil
}

// Credential returns the subscriber credential of r in Subscriber's order (Authorization
// header, cookie, query), or "" when there is none or it is malformed. The server compares
// it with the admin token.
func (a *Authenticator) Credential(r *http.Request) string {
	tok, _, err := a.subscriberToken(r)
	if err != nil {
		return ""
	}
	return tok
}

// subscriberToken finds the subscriber's token and names its source for error messages.
func (a *Authenticator) subscriberToken(r *http.Request) (tok, src string, err error) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, err := bearer(h)
		return tok, "authorization header", err
	}
	if c, err := r.Cookie(a.cookie); err == nil && c.Value != "" {
		return c.Value, "cookie", nil
	}
	if q := r.URL.Query(); q.Has(QueryParam) {
		if tok := q.Get(QueryParam); tok != "" {
			return tok, "query parameter", nil
		}
		return "", "query parameter", fmt.Errorf("%w: empty token parameter", ErrInvalidToken)
	}
	return "", "", nil
}

// Publisher authenticates a publisher from the Authorization header only (never a cookie,
// which a browser would send on a cross-site request, nor the URL, which gets logged). An API
// key gives an identity that may publish anywhere; a JWT gives one that may publish where
// its herald.publish patterns allow. A request without the header is anonymous.
func (a *Authenticator) Publisher(r *http.Request) (Identity, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Identity{Anonymous: true}, nil
	}
	tok, err := bearer(h)
	if err != nil {
		return Identity{}, err
	}
	if a.isAPIKey(tok) {
		return Identity{APIKey: true}, nil
	}
	if !a.verifying || strings.Count(tok, ".") != 2 {
		return Identity{}, fmt.Errorf("%w: unknown API key", ErrInvalidToken)
	}
	return a.VerifyToken(r.Context(), tok)
}

// isAPIKey compares tok with every configured key in constant time.
func (a *Authenticator) isAPIKey(tok string) bool {
	if len(a.apiKeys) == 0 {
		return false
	}
	sum := sha256.Sum256([]byte(tok))
	found := 0
	for i := range a.apiKeys {
		found |= subtle.ConstantTimeCompare(sum[:], a.apiKeys[i][:])
	}
	return found == 1
}

// bearer extracts the credentials of an "Authorization: Bearer <token>" header.
func bearer(h string) (string, error) {
	const prefix = "bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", fmt.Errorf("%w: authorization header is not a Bearer token", ErrInvalidToken)
	}
	tok := strings.TrimSpace(h[len(prefix):])
	if tok == "" {
		return "", fmt.Errorf("%w: empty bearer token", ErrInvalidToken)
	}
	return tok, nil
}

// VerifyToken verifies a JWT and returns its identity. Errors wrap ErrInvalidToken,
// ErrExpiredToken, ErrNotYetValid or ErrKeysUnavailable.
func (a *Authenticator) VerifyToken(ctx context.Context, tok string) (Identity, error) {
	if !a.verifying {
		return Identity{}, fmt.Errorf("%w: no JWT key is configured", ErrInvalidToken)
	}
	if len(tok) > MaxTokenLen {
		return Identity{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, MaxTokenLen)
	}
	var claims Claims
	var keyErr error
	_, err := a.parser.ParseWithClaims(tok, &claims, func(t *jwt.Token) (any, error) {
		k, err := a.keyFor(ctx, t)
		keyErr = err
		return k, err
	})
	switch {
	case err == nil:
	case keyErr != nil:
		return Identity{}, keyErr
	case errors.Is(err, jwt.ErrTokenExpired):
		return Identity{}, fmt.Errorf("%w: %w", ErrExpiredToken, err)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return Identity{}, fmt.Errorf("%w: %w", ErrNotYetValid, err)
	default:
		return Identity{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	sub, pub, err := claimPatterns(claims.Herald)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	id := Identity{Subject: claims.Subject, subscribe: sub, publish: pub}
	if claims.ExpiresAt != nil {
		id.ExpiresAt = claims.ExpiresAt.Time
	}
	return id, nil
}

func claimPatterns(h HeraldClaims) (sub, pub []Pattern, err error) {
	if sub, err = ParsePatterns(h.Subscribe); err != nil {
		return nil, nil, fmt.Errorf("herald.subscribe: %w", err)
	}
	if pub, err = ParsePatterns(h.Publish); err != nil {
		return nil, nil, fmt.Errorf("herald.publish: %w", err)
	}
	return sub, pub, nil
}

// keyFor picks the key(s) for a token by its alg header, never outside the alg's family.
func (a *Authenticator) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	alg, _ := t.Header["alg"].(string)
	kid, _ := t.Header["kid"].(string)
	if slices.Contains(hmacAlgs, alg) {
		if a.hmac == nil {
			return nil, fmt.Errorf("%w: algorithm %s is not accepted", ErrInvalidToken, alg)
		}
		return a.hmac.key, nil
	}
	var set jwt.VerificationKeySet
	if a.pem != nil && a.pem.allows(alg) {
		set.Keys = append(set.Keys, a.pem.key)
	}
	if a.jwks != nil && (kid != "" || len(set.Keys) == 0) {
		keys, err := a.jwks.keysFor(ctx, kid, alg)
		if err != nil && len(set.Keys) == 0 {
			return nil, err
		}
		for _, k := range keys {
			set.Keys = append(set.Keys, k.key)
		}
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("%w: algorithm %s is not accepted", ErrInvalidToken, alg)
	}
	return set, nil
}

// Policy returns the policy of topic's namespace.
func (a *Authenticator) Policy(topic herald.Topic) NamespacePolicy {
	return a.policies[topic.Namespace()]
}
