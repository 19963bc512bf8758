package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock for key-cache timing.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// jwksServer is a real HTTP server whose key set and status the test can change.
type jwksServer struct {
	*httptest.Server
	hits   atomic.Int64
	mu     sync.Mutex
	body   []byte
	status int
}

func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	s := &jwksServer{body: body, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, status := s.body, s.status
		s.mu.Unlock()
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(status int, body []byte) {
	s.mu.Lock()
	s.status, s.body = status, body
	s.mu.Unlock()
}

func jwksAuthenticator(t *testing.T, url string, clock *fakeClock) *Authenticator {
	t.Helper()
	a, err := New(Config{
		JWKSURL: url, Now: clock.Now, JWKSTimeout: 2 * time.Second,
		JWKSRefresh: 10 * time.Minute, JWKSMinInterval: 30 * time.Second, Logger: discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func verifyErr(a *Authenticator, tok string) error {
	_, err := a.VerifyToken(context.Background(), tok)
	return err
}

func TestJWKSRotation(t *testing.T) {
	k := loadTestKeys()
	clock := &fakeClock{now: testNow}
	srv := newJWKSServer(t, jwksJSON(t, jwkOf(t, "k1", &k.rsa.PublicKey)))
	a := jwksAuthenticator(t, srv.URL, clock)
	c := claims("42", nil, nil)
	tok1 := mustSign(t, k.rsa, "RS256", "k1", c)
	tok2 := mustSign(t, k.ec, "ES256", "k2", c)

	for i := range 50 {
		if err := verifyErr(a, tok1); err != nil {
			t.Fatalf("k1 token %d: %v", i, err)
		}
	}
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("%d fetches for one key set, want 1 (cached)", got)
	}
	// k2 appears at the IdP; the next token signed with it is at once picked up, unless a
	// fetch ran less than JWKSMinInterval ago.
	srv.set(http.StatusOK, jwksJSON(t, jwkOf(t, "k1", &k.rsa.PublicKey), jwkOf(t, "k2", &k.ec.PublicKey)))
	if err := verifyErr(a, tok2); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("k2 token within the min interval: %v, want ErrInvalidToken (rate limited)", err)
	}
	clock.Add(31 * time.Second)
	if err := verifyErr(a, tok2); err != nil {
		t.Fatalf("k2 token after rotation: %v", err)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("%d fetches, want 2", got)
	}
	// k1 is retired; after JWKSRefresh a background refresh drops it.
	srv.set(http.StatusOK, jwksJSON(t, jwkOf(t, "k2", &k.ec.PublicKey)))
	clock.Add(11 * time.Minute)
	if err := verifyErr(a, tok1); err != nil {
		t.Fatalf("k1 token served from the stale cache: %v", err)
	}
	waitFor(t, func() bool { return srv.hits.Load() == 3 && !fetching(a) })
	if err := verifyErr(a, tok1); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("retired k1 token: %v, want ErrInvalidToken", err)
	}
}

func fetching(a *Authenticator) bool {
	a.jwks.mu.Lock()
	defer a.jwks.mu.Unlock()
	return a.jwks.inflight != nil
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestJWKSUnknownKidRateLimit(t *testing.T) {
	k := loadTestKeys()
	clock := &fakeClock{now: testNow}
	srv := newJWKSServer(t, jwksJSON(t, jwkOf(t, "k1", k.ed.Public())))
	a := jwksAuthenticator(t, srv.URL, clock)
	// A flood of tokens with random kids, concurrently: one fetch, not one per token.
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			tok := mustSign(t, k.ed, "EdDSA", fmt.Sprintf("kid-%d", i), claims("42", nil, nil))
			if err := verifyErr(a, tok); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("unknown kid: %v, want ErrInvalidToken", err)
			}
		})
	}
	wg.Wait()
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("%d fetches for 64 unknown kids, want 1", got)
	}
	// A token without kid is tried against every key of its algorithm.
	if err := verifyErr(a, mustSign(t, k.ed, "EdDSA", "", claims("42", nil, nil))); err != nil {
		t.Fatalf("token without kid: %v", err)
	}
	// The right key under the wrong algorithm is refused.
	if err := verifyErr(a, mustSign(t, k.rsa, "RS256", "k1", claims("42", nil, nil))); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("RS256 token naming an Ed25519 kid: %v", err)
	}
}

func TestJWKSUnavailable(t *testing.T) {
	k := loadTestKeys()
	clock := &fakeClock{now: testNow}
	srv := newJWKSServer(t, []byte("oops"))
	srv.set(http.StatusInternalServerError, []byte("oops"))
	a := jwksAuthenticator(t, srv.URL, clock)
	tok := mustSign(t, k.rsa, "RS256", "k1", claims("42", nil, nil))
	err := verifyErr(a, tok)
	if !errors.Is(err, ErrKeysUnavailable) || HTTPStatus(err) != http.StatusServiceUnavailable {
		t.Fatalf("IdP down: %v (status %d), want ErrKeysUnavailable/503", err, HTTPStatus(err))
	}
	srv.set(http.StatusOK, jwksJSON(t, jwkOf(t, "k1", &k.rsa.PublicKey)))
	if err := verifyErr(a, tok); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("IdP back within the min interval: %v, want still unavailable", err)
	}
	clock.Add(time.Minute)
	if err := verifyErr(a, tok); err != nil {
		t.Fatalf("IdP back: %v", err)
	}
	// The IdP fails again: cached keys keep working.
	srv.set(http.StatusBadGateway, nil)
	clock.Add(20 * time.Minute)
	for range 3 {
		if err := verifyErr(a, tok); err != nil {
			t.Fatalf("cached keys while the IdP fails: %v", err)
		}
	}
}

func TestJWKSTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	a, err := New(Config{JWKSURL: srv.URL, Now: fixedNow, JWKSTimeout: 100 * time.Millisecond, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	tok := mustSign(t, loadTestKeys().rsa, "RS256", "k1", claims("42", nil, nil))
	start := time.Now()
	err = verifyErr(a, tok)
	if !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("hanging IdP: %v, want ErrKeysUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("hanging IdP took %v, want about the 100ms timeout", d)
	}
	// The request's own context bounds the wait too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.VerifyToken(ctx, tok); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("cancelled request: %v", err)
	}
}

func TestParseJWKS(t *testing.T) {
	k := loadTestKeys()
	enc := base64.RawURLEncoding.EncodeToString
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ecBad := jwkOf(t, "bad", &k.ec.PublicKey)
	ecBad["y"] = ecBad["x"] // not on the curve
	rsaAlg := jwkOf(t, "ps", &k.rsa.PublicKey)
	rsaAlg["alg"] = "PS256"
	mismatch := jwkOf(t, "mm", &k.rsa.PublicKey)
	mismatch["alg"] = "HS256"
	enc1 := jwkOf(t, "enc", &k.rsa.PublicKey)
	enc1["use"] = "enc"
	tests := []struct {
		name string
		key  map[string]string
		algs []string // nil: skipped
	}{
		{"rsa", jwkOf(t, "r", &k.rsa.PublicKey), rsaAlgs},
		{"rsa with alg", rsaAlg, []string{"PS256"}},
		{"ec", jwkOf(t, "e", &k.ec.PublicKey), []string{"ES256"}},
		{"ed25519", jwkOf(t, "d", k.ed.Public()), []string{"EdDSA"}},
		{"oct (a secret) refused", map[string]string{"kty": "oct", "kid": "o", "k": enc([]byte(testSecret))}, nil},
		{"small rsa", jwkOf(t, "s", &small.PublicKey), nil},
		{"ec point off curve", ecBad, nil},
		{"alg of another family", mismatch, nil},
		{"encryption key", enc1, nil},
		{"unknown kty", map[string]string{"kty": "XYZ"}, nil},
		{"ed448", map[string]string{"kty": "OKP", "crv": "Ed448", "x": enc(make([]byte, 57))}, nil},
		{"rsa without n", map[string]string{"kty": "RSA", "e": "AQAB"}, nil},
		{"rsa even exponent", map[string]string{"kty": "RSA", "n": jwkOf(t, "r", &k.rsa.PublicKey)["n"], "e": "Ag"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, _, err := parseJWKS(jwksJSON(t, tt.key))
			if tt.algs == nil {
				if err == nil {
					t.Fatalf("accepted %v as %v", tt.key, keys[0].algs)
				}
				return
			}
			if err != nil || len(keys) != 1 || fmt.Sprint(keys[0].algs) != fmt.Sprint(tt.algs) {
				t.Fatalf("got %v, %v; want algs %v", keys, err, tt.algs)
			}
		})
	}
	for _, doc := range []string{"", "{", "[]", `{"keys": {}}`, `{"keys": []}`, "null"} {
		if _, _, err := parseJWKS([]byte(doc)); err == nil {
			t.Errorf("parseJWKS(%q) succeeded", doc)
		}
	}
}
