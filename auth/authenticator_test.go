package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldpush/herald"
)

// keySetup is one way of configuring verification, with the keys to sign good and bad tokens.
type keySetup struct {
	name     string
	cfg      func(t *testing.T) Config
	alg, kid string
	good     any // signs valid tokens
	wrong    any // a key of the same kind that the server does not know
	// confusion is the public key's PEM, used as an HMAC secret by an attacker; nil when the
	// setup has no public key.
	confusion []byte
}

func keySetups(t *testing.T) []keySetup {
	k := loadTestKeys()
	rsaPEM := publicPEM(t, &k.rsa.PublicKey)
	ecPEM := publicPEM(t, &k.ec.PublicKey)
	edPEM := publicPEM(t, k.ed.Public())
	pemCfg := func(data []byte) func(t *testing.T) Config {
		return func(t *testing.T) Config { return Config{JWTPublicKeyFile: writeFile(t, "key.pem", data)} }
	}
	jwksCfg := func(t *testing.T) Config {
		body := jwksJSON(t, jwkOf(t, "rsa1", &k.rsa.PublicKey), jwkOf(t, "ec1", &k.ec.PublicKey), jwkOf(t, "ed1", k.ed.Public()))
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
		}))
		t.Cleanup(srv.Close)
		return Config{JWKSURL: srv.URL, HTTPClient: srv.Client(), Logger: discard}
	}
	return []keySetup{
		{name: "HS256", cfg: func(*testing.T) Config { return Config{JWTKey: []byte(testSecret)} }, alg: "HS256", good: []byte(testSecret), wrong: []byte("another-secret-of-enough-length")},
		{name: "HS512", cfg: func(*testing.T) Config { return Config{JWTKey: []byte(testSecret)} }, alg: "HS512", good: []byte(testSecret), wrong: []byte("another-secret-of-enough-length")},
		{name: "RS256-pem", cfg: pemCfg(rsaPEM), alg: "RS256", good: k.rsa, wrong: k.rsa2, confusion: rsaPEM},
		{name: "PS384-pem", cfg: pemCfg(rsaPEM), alg: "PS384", good: k.rsa, wrong: k.rsa2, confusion: rsaPEM},
		{name: "ES256-pem", cfg: pemCfg(ecPEM), alg: "ES256", good: k.ec, wrong: k.ec2, confusion: ecPEM},
		{name: "EdDSA-pem", cfg: pemCfg(edPEM), alg: "EdDSA", good: k.ed, wrong: k.ed2, confusion: edPEM},
		{name: "HS256+RS256-pem", cfg: func(t *testing.T) Config {
			return Config{JWTKey: []byte(testSecret), JWTPublicKeyFile: writeFile(t, "key.pem", rsaPEM)}
		}, alg: "RS256", good: k.rsa, wrong: k.rsa2, confusion: rsaPEM},
		{name: "RS256-jwks", cfg: jwksCfg, alg: "RS256", kid: "rsa1", good: k.rsa, wrong: k.rsa2, confusion: rsaPEM},
		{name: "ES256-jwks", cfg: jwksCfg, alg: "ES256", kid: "ec1", good: k.ec, wrong: k.ec2, confusion: ecPEM},
		{name: "EdDSA-jwks", cfg: jwksCfg, alg: "EdDSA", kid: "ed1", good: k.ed, wrong: k.ed2, confusion: edPEM},
	}
}

// tokenKind is one kind of credential in the matrix.
type tokenKind struct {
	name  string
	make  func(t *testing.T, ks keySetup, c Claims) string
	valid bool // verifies; otherwise 401
}

func tokenKinds() []tokenKind {
	return []tokenKind{
		{"anonymous", func(*testing.T, keySetup, Claims) string { return "" }, false},
		{"valid", func(t *testing.T, ks keySetup, c Claims) string { return mustSign(t, ks.good, ks.alg, ks.kid, c) }, true},
		{"expired", func(t *testing.T, ks keySetup, c Claims) string {
			c.ExpiresAt = jwt.NewNumericDate(testNow.Add(-time.Minute))
			return mustSign(t, ks.good, ks.alg, ks.kid, c)
		}, false},
		{"expired-within-leeway", func(t *testing.T, ks keySetup, c Claims) string {
			c.ExpiresAt = jwt.NewNumericDate(testNow.Add(-10 * time.Second))
			return mustSign(t, ks.good, ks.alg, ks.kid, c)
		}, true},
		{"not-yet-valid", func(t *testing.T, ks keySetup, c Claims) string {
			c.NotBefore = jwt.NewNumericDate(testNow.Add(time.Minute))
			return mustSign(t, ks.good, ks.alg, ks.kid, c)
		}, false},
		{"not-yet-valid-within-leeway", func(t *testing.T, ks keySetup, c Claims) string {
			c.NotBefore = jwt.NewNumericDate(testNow.Add(10 * time.Second))
			return mustSign(t, ks.good, ks.alg, ks.kid, c)
		}, true},
		{"no-exp", func(t *testing.T, ks keySetup, c Claims) string {
			c.ExpiresAt = nil
			return mustSign(t, ks.good, ks.alg, ks.kid, c)
		}, false},
		{"wrong-key", func(t *testing.T, ks keySetup, c Claims) string { return mustSign(t, ks.wrong, ks.alg, ks.kid, c) }, false},
		{"alg-none", func(t *testing.T, ks keySetup, c Claims) string { return noneToken(t, c) }, false},
		{"alg-none-with-signature", func(t *testing.T, ks keySetup, c Claims) string {
			good := mustSign(t, ks.good, ks.alg, ks.kid, c)
			none := noneToken(t, c)
			return none + good[strings.LastIndexByte(good, '.')+1:]
		}, false},
		{"hmac-with-public-key", func(t *testing.T, ks keySetup, c Claims) string {
			secret := ks.confusion
			if secret == nil {
				secret = publicPEM(t, &loadTestKeys().rsa.PublicKey)
			}
			return mustSign(t, secret, "HS256", ks.kid, c)
		}, false},
		{"tampered-claims", func(t *testing.T, ks keySetup, c Claims) string {
			good := mustSign(t, ks.good, ks.alg, ks.kid, c)
			c2 := c
			c2.Herald.Subscribe = []string{"*"}
			c2.Herald.Publish = []string{"*"}
			other := mustSign(t, ks.good, ks.alg, ks.kid, c2)
			p := strings.Split(good, ".")
			return p[0] + "." + strings.Split(other, ".")[1] + "." + p[2]
		}, false},
		{"bad-pattern-claim", func(t *testing.T, ks keySetup, c Claims) string {
			c.Herald.Subscribe = append(c.Herald.Subscribe, "a*b")
			tok, err := jwt.NewWithClaims(jwt.GetSigningMethod(ks.alg), c).SignedString(ks.good)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}, false},
		{"garbage", func(*testing.T, keySetup, Claims) string { return "not.a.jwt" }, false},
	}
}

// source puts a token into a request.
type source struct {
	name string
	put  func(r *http.Request, tok string)
}

var sources = []source{
	{"header", func(r *http.Request, tok string) { r.Header.Set("Authorization", "Bearer "+tok) }},
	{"cookie", func(r *http.Request, tok string) { r.AddCookie(&http.Cookie{Name: DefaultCookie, Value: tok}) }},
	{"query", func(r *http.Request, tok string) {
		q := r.URL.Query()
		q.Set(QueryParam, tok)
		r.URL.RawQuery = q.Encode()
	}},
}

var testNamespaces = map[string]NamespacePolicy{
	"raffle": {Public: true},
	"user":   {Personal: true},
}

func newTestAuthenticator(t *testing.T, cfg Config) *Authenticator {
	t.Helper()
	cfg.Now = fixedNow
	cfg.Namespaces = testNamespaces
	cfg.APIKeys = append(cfg.APIKeys, "publisher-api-key-1")
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func subscribeStatus(a *Authenticator, r *http.Request, topic herald.Topic) int {
	_, err := a.CheckSubscribe(r, []herald.Topic{topic})
	return HTTPStatus(err)
}

func TestSubscribeMatrix(t *testing.T) {
	topics := []struct {
		topic herald.Topic
		// want is the status for a verified token of subject 42; anonymous gets 200 on
		// public topics and 401 elsewhere.
		want   int
		public bool
	}{
		{"orders:7", 200, false},          // allowed by "orders:*"
		{"user:42", 200, false},           // own personal topic, allowed by "user:{sub}"
		{"user:43", 403, false},           // another user's
		{"user:42:secret", 403, false},    // personal: only exactly user:42, whatever "user:*" says
		{"admin:x", 403, false},           // no claim
		{"raffle:1", 200, true},           // public
		{"scan:1", 403, false},            // publish-only claim
		{"orders", 403, false},            // prefix pattern needs the ':'
		{"user:4", 403, false},            // prefix of own id
		{"user:{sub}", 403, false},        // literal placeholder text is not the subject
		{"orders:7:deeper:x", 200, false}, // '*' spans ':'
	}
	c := claims("42", []string{"user:{sub}", "orders:*", "user:*"}, []string{"scan:*"})
	for _, ks := range keySetups(t) {
		t.Run(ks.name, func(t *testing.T) {
			a := newTestAuthenticator(t, ks.cfg(t))
			for _, tk := range tokenKinds() {
				tok := tk.make(t, ks, c)
				for _, src := range sources {
					for _, tc := range topics {
						r := httptest.NewRequest(http.MethodGet, "/v1/events?topic="+url.QueryEscape(string(tc.topic)), nil)
						if tok != "" {
							src.put(r, tok)
						}
						want := tc.want
						switch {
						case tok == "" && tc.public:
							want = 200
						case tok == "" || !tk.valid:
							want = 401
						}
						if got := subscribeStatus(a, r, tc.topic); got != want {
							_, err := a.CheckSubscribe(r, []herald.Topic{tc.topic})
							t.Errorf("%s token by %s for %s: status %d, want %d (%v)", tk.name, src.name, tc.topic, got, want, err)
						}
					}
					if tok == "" {
						break // one source is enough for no token
					}
				}
			}
		})
	}
}

func TestPublishMatrix(t *testing.T) {
	topics := []struct {
		topic herald.Topic
		want  int // for a valid token
	}{
		{"scan:1", 200},
		{"scan:1:progress", 200},
		{"orders:1", 403},
		{"user:42", 403},
		{"scanx", 403},
	}
	c := claims("42", []string{"user:{sub}"}, []string{"scan:*"})
	for _, ks := range keySetups(t) {
		t.Run(ks.name, func(t *testing.T) {
			a := newTestAuthenticator(t, ks.cfg(t))
			for _, tk := range tokenKinds() {
				tok := tk.make(t, ks, c)
				for _, src := range sources {
					for _, tc := range topics {
						r := httptest.NewRequest(http.MethodPost, "/v1/publish", nil)
						if tok != "" {
							src.put(r, tok)
						}
						want := tc.want
						if !tk.valid || src.name != "header" {
							// Publishers are read only from the Authorization header.
							want = 401
						}
						if got := publishStatus(a, r, tc.topic); got != want {
							t.Errorf("%s token by %s for %s: status %d, want %d", tk.name, src.name, tc.topic, got, want)
						}
					}
				}
			}
		})
	}
}

func publishStatus(a *Authenticator, r *http.Request, topic herald.Topic) int {
	id, err := a.Publisher(r)
	if err != nil {
		return HTTPStatus(err)
	}
	return HTTPStatus(a.AuthorizePublish(r, id, topic).Err())
}

func TestPublishAPIKeys(t *testing.T) {
	a := newTestAuthenticator(t, Config{JWTKey: []byte(testSecret), APIKeys: []string{"second-key"}})
	tests := []struct {
		name, header string
		want         int
	}{
		{"first key", "Bearer publisher-api-key-1", 200},
		{"second key", "Bearer second-key", 200},
		{"scheme case-insensitive", "bearer second-key", 200},
		{"wrong key", "Bearer publisher-api-key-2", 401},
		{"prefix of key", "Bearer publisher-api-key-", 401},
		{"key with suffix", "Bearer publisher-api-key-10", 401},
		{"basic auth", "Basic cHVibGlzaGVyLWFwaS1rZXktMTo=", 401},
		{"empty bearer", "Bearer ", 401},
		{"no header", "", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, topic := range []herald.Topic{"scan:1", "user:42", "anything"} {
				r := httptest.NewRequest(http.MethodPost, "/v1/publish", nil)
				if tt.header != "" {
					r.Header.Set("Authorization", tt.header)
				}
				if got := publishStatus(a, r, topic); got != tt.want {
					t.Errorf("%s to %s: status %d, want %d", tt.header, topic, got, tt.want)
				}
			}
		})
	}
	// An API key is not a subscriber credential.
	r := httptest.NewRequest(http.MethodGet, "/v1/events", nil)
	r.Header.Set("Authorization", "Bearer publisher-api-key-1")
	if got := subscribeStatus(a, r, "user:42"); got != 401 {
		t.Errorf("API key as subscriber: status %d, want 401", got)
	}
}

func TestDevelopmentMode(t *testing.T) {
	a, err := New(Config{Now: fixedNow, Namespaces: testNamespaces})
	if err != nil {
		t.Fatal(err)
	}
	if a.VerifiesTokens() || a.HasAPIKeys() {
		t.Fatal("development mode reports credentials")
	}
	tok := mustSign(t, []byte(testSecret), "HS256", "", claims("42", []string{"*"}, []string{"*"}))
	tests := []struct {
		name, remote, token string
		publish             bool
		want                int
	}{
		{"anonymous subscriber remote", "203.0.113.9:5000", "", false, 200},
		{"anonymous subscriber personal", "203.0.113.9:5000", "", false, 200},
		{"token cannot be verified", "127.0.0.1:5000", tok, false, 401},
		{"publish from IPv4 loopback", "127.0.0.1:5000", "", true, 200},
		{"publish from IPv6 loopback", "[::1]:5000", "", true, 200},
		{"publish from mapped loopback", "[::ffff:127.0.0.1]:5000", "", true, 200},
		{"publish from remote", "203.0.113.9:5000", "", true, 403},
		{"publish from private net", "10.0.0.1:5000", "", true, 403},
		{"publish with unverifiable token", "127.0.0.1:5000", tok, true, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			if tt.token != "" {
				r.Header.Set("Authorization", "Bearer "+tt.token)
			}
			var got int
			if tt.publish {
				got = publishStatus(a, r, "scan:1")
			} else {
				got = subscribeStatus(a, r, "user:42")
			}
			if got != tt.want {
				t.Errorf("status %d, want %d", got, tt.want)
			}
		})
	}
}

func TestAPIKeysOnlyRequirePublisherCredentials(t *testing.T) {
	a, err := New(Config{APIKeys: []string{"k"}, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/v1/publish", nil)
	r.RemoteAddr = "127.0.0.1:1"
	if got := publishStatus(a, r, "scan:1"); got != 401 {
		t.Errorf("anonymous loopback publish with API keys configured: %d, want 401", got)
	}
	if got := subscribeStatus(a, r, "scan:1"); got != 200 {
		t.Errorf("anonymous subscribe without JWT keys: %d, want 200", got)
	}
}

func TestTokenSourceOrder(t *testing.T) {
	a := newTestAuthenticator(t, Config{JWTKey: []byte(testSecret)})
	mk := func(sub string) string {
		return mustSign(t, []byte(testSecret), "HS256", "", claims(sub, []string{"user:{sub}"}, nil))
	}
	r := httptest.NewRequest(http.MethodGet, "/v1/events?token="+mk("query"), nil)
	r.AddCookie(&http.Cookie{Name: DefaultCookie, Value: mk("cookie")})
	r.Header.Set("Authorization", "Bearer "+mk("header"))
	steps := []string{"header", "cookie", "query"}
	for i, want := range steps {
		id, err := a.Subscriber(r)
		if err != nil || id.Subject != want {
			t.Fatalf("step %d: got %v, %v; want subject %q", i, id, err, want)
		}
		switch want {
		case "header":
			r.Header.Del("Authorization")
		case "cookie":
			r.Header.Del("Cookie")
		}
	}
	// A bad header is not skipped in favour of a good cookie.
	r = httptest.NewRequest(http.MethodGet, "/v1/events", nil)
	r.Header.Set("Authorization", "Bearer bad")
	r.AddCookie(&http.Cookie{Name: DefaultCookie, Value: mk("cookie")})
	if _, err := a.Subscriber(r); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("bad header with good cookie: %v, want ErrInvalidToken", err)
	}
	// An empty ?token= is an error, not anonymous.
	r = httptest.NewRequest(http.MethodGet, "/v1/events?token=", nil)
	if _, err := a.Subscriber(r); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("empty token parameter: %v, want ErrInvalidToken", err)
	}
}

func TestCustomCookieAndClaims(t *testing.T) {
	a, err := New(Config{JWTKey: []byte(testSecret), Cookie: "sess", Issuer: "https://id.example", Audience: "herald", Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	good := claims("42", []string{"user:{sub}"}, nil)
	good.Issuer, good.Audience = "https://id.example", jwt.ClaimStrings{"herald"}
	wrongIss, wrongAud := good, good
	wrongIss.Issuer = "https://evil.example"
	wrongAud.Audience = jwt.ClaimStrings{"other"}
	tests := []struct {
		name   string
		cookie string
		c      Claims
		want   error
	}{
		{"good", "sess", good, nil},
		{"default cookie name ignored", DefaultCookie, good, nil},
		{"wrong issuer", "sess", wrongIss, ErrInvalidToken},
		{"wrong audience", "sess", wrongAud, ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.AddCookie(&http.Cookie{Name: tt.cookie, Value: mustSign(t, []byte(testSecret), "HS256", "", tt.c)})
			id, err := a.Subscriber(r)
			if tt.cookie == DefaultCookie {
				if err != nil || !id.Anonymous {
					t.Fatalf("got %v, %v; want anonymous", id, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestErrorsNeverContainTheToken(t *testing.T) {
	a := newTestAuthenticator(t, Config{JWTKey: []byte(testSecret)})
	expired := claims("42", nil, nil)
	expired.ExpiresAt = jwt.NewNumericDate(testNow.Add(-time.Hour))
	for _, tok := range []string{
		mustSign(t, []byte(testSecret), "HS256", "", expired),
		mustSign(t, []byte("wrong-secret-long-enough"), "HS256", "", claims("42", nil, nil)),
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiI0MiJ9.",
		"garbage-token-value",
	} {
		_, err := a.VerifyToken(context.Background(), tok)
		if err == nil {
			t.Fatalf("token %q verified", tok)
		}
		for _, part := range strings.Split(tok, ".") {
			if len(part) > 8 && strings.Contains(err.Error(), part) {
				t.Errorf("error %q contains part of the token", err)
			}
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	k := loadTestKeys()
	tests := []struct {
		name string
		cfg  func(t *testing.T) Config
	}{
		{"short secret", func(*testing.T) Config { return Config{JWTKey: []byte("short")} }},
		{"missing key file", func(*testing.T) Config { return Config{JWTPublicKeyFile: "/nonexistent/key.pem"} }},
		{"private key given", func(t *testing.T) Config {
			return Config{JWTPublicKeyFile: writeFile(t, "k.pem", privatePEM(t, k.ec))}
		}},
		{"not PEM", func(t *testing.T) Config { return Config{JWTPublicKeyFile: writeFile(t, "k.pem", []byte("hello"))} }},
		{"JWKS not http", func(*testing.T) Config { return Config{JWKSURL: "file:///etc/passwd"} }},
		{"empty API key", func(*testing.T) Config { return Config{APIKeys: []string{""}} }},
		{"public and personal", func(*testing.T) Config {
			return Config{Namespaces: map[string]NamespacePolicy{"x": {Public: true, Personal: true}}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg(t)); err == nil {
				t.Fatal("New accepted a bad config")
			}
		})
	}
}

func TestIdentityExpiresAt(t *testing.T) {
	a := newTestAuthenticator(t, Config{JWTKey: []byte(testSecret)})
	id, err := a.VerifyToken(context.Background(), mustSign(t, []byte(testSecret), "HS384", "", claims("42", nil, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !id.ExpiresAt.Equal(testNow.Add(time.Hour)) || id.String() != "sub:42" {
		t.Fatalf("identity %v expires %v", id, id.ExpiresAt)
	}
}
