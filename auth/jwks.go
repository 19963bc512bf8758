package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"slices"
	"sync"
	"time"
)

// maxJWKSBytes bounds the size of a JWKS document.
const maxJWKSBytes = 1 << 20

// jwks is a cached JSON Web Key Set fetched from a URL. Keys are refreshed when older than
// refresh (in the background, while requests go on with the cached keys) and when a token
// names an unknown kid, at most once per minInterval (requests wait for that fetch).
type jwks struct {
	url         string
	client      *http.Client
	timeout     time.Duration
	refresh     time.Duration
	minInterval time.Duration
	now         func() time.Time
	log         *slog.Logger

	mu          sync.Mutex
	keys        []verificationKey
	fetched     time.Time     // last successful fetch; zero before the first
	lastAttempt time.Time     // last fetch started
	inflight    chan struct{} // closed when the running fetch ends; nil when none runs
	lastErr     error
}

// jwk is one JSON Web Key (RFC 7517), the members Herald reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// keysFor returns the keys that may verify a token with the given kid and alg. An unknown kid
// triggers a rate-limited refresh; a stale set triggers a background refresh.
func (j *jwks) keysFor(ctx context.Context, kid, alg string) ([]verificationKey, error) {
	j.mu.Lock()
	now := j.now()
	stale := j.fetched.IsZero() || now.Sub(j.fetched) >= j.refresh
	found := j.matchLocked(kid, alg)
	if len(found) > 0 {
		if stale {
			j.startFetchLocked(now)
		}
		j.mu.Unlock()
		return found, nil
	}
	// Unknown kid (or an empty set): fetch now unless one ran too recently.
	var wait chan struct{}
	if j.inflight != nil {
		wait = j.inflight
	} else if j.lastAttempt.IsZero() || now.Sub(j.lastAttempt) >= j.minInterval {
		wait = j.startFetchLocked(now)
	}
	j.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: waiting for JWKS: %w", ErrKeysUnavailable, ctx.Err())
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if found = j.matchLocked(kid, alg); len(found) > 0 {
		return found, nil
	}
	if j.fetched.IsZero() {
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, j.lastErr)
	}
	if kid != "" {
		return nil, fmt.Errorf("%w: unknown key id %q", ErrInvalidToken, kid)
	}
	return nil, fmt.Errorf("%w: no key for algorithm %s", ErrInvalidToken, alg)
}

// matchLocked returns the keys with the kid (any key when kid is "") that allow alg.
func (j *jwks) matchLocked(kid, alg string) []verificationKey {
	var out []verificationKey
	for _, k := range j.keys {
		if (kid == "" || k.kid == kid) && k.allows(alg) {
			out = append(out, k)
		}
	}
	return out
}

// startFetchLocked starts a background fetch unless one runs, and returns its done channel.
func (j *jwks) startFetchLocked(now time.Time) chan struct{} {
	if j.inflight != nil {
		return j.inflight
	}
	if !j.lastAttempt.IsZero() && now.Sub(j.lastAttempt) < j.minInterval {
		return nil
	}
	done := make(chan struct{})
	j.inflight = done
	j.lastAttempt = now
	go func() {
		// Detached from any request: a client that goes away must not cancel the refresh.
		ctx, cancel := context.WithTimeout(context.Background(), j.timeout)
		keys, err := j.fetch(ctx)
		cancel()
		j.mu.Lock()
		if err == nil {
			j.keys, j.fetched, j.lastErr = keys, j.now(), nil
		} else {
			j.lastErr = err
			j.log.Warn("auth: JWKS refresh failed; keeping the cached keys", "url", j.url, "keys", len(j.keys), "err", err)
		}
		j.inflight = nil
		j.mu.Unlock()
		close(done)
	}()
	return done
}

// fetch downloads and parses the key set.
func (j *jwks) fetch(ctx context.Context) ([]verificationKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, fmt.Errorf("JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS: status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read JWKS: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("JWKS larger than %d bytes", maxJWKSBytes)
	}
	keys, skipped, err := parseJWKS(body)
	if err != nil {
		return nil, err
	}
	for _, s := range skipped {
		j.log.Debug("auth: JWKS key skipped", "kid", s.kid, "reason", s.err)
	}
	return keys, nil
}

type skippedKey struct {
	kid string
	err error
}

// parseJWKS parses a JWK Set, keeping the signature keys it supports. It fails when the
// document is not a key set or holds no usable key.
func parseJWKS(data []byte) ([]verificationKey, []skippedKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, nil, fmt.Errorf("decode JWKS: %w", err)
	}
	var keys []verificationKey
	var skipped []skippedKey
	for _, k := range set.Keys {
		vk, err := k.verificationKey()
		if err != nil {
			skipped = append(skipped, skippedKey{k.Kid, err})
			continue
		}
		keys = append(keys, vk)
	}
	if len(keys) == 0 {
		return nil, skipped, errors.New("JWKS holds no usable signature key")
	}
	return keys, skipped, nil
}

// verificationKey converts a JWK to a key with its allowed algorithms. Symmetric ("oct")
// keys are refused: a key set is public.
func (k jwk) verificationKey() (verificationKey, error) {
	if k.Use != "" && k.Use != "sig" {
		return verificationKey{}, fmt.Errorf("use %q is not sig", k.Use)
	}
	var pub any
	switch k.Kty {
	case "RSA":
		n, err1 := b64(k.N)
		e, err2 := b64(k.E)
		if err := errors.Join(err1, err2); err != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return verificationKey{}, fmt.Errorf("bad RSA key: %v", err)
		}
		exp := int(new(big.Int).SetBytes(e).Int64())
		if exp < 3 || exp%2 == 0 {
			return verificationKey{}, errors.New("bad RSA exponent")
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return verificationKey{}, fmt.Errorf("unsupported curve %q", k.Crv)
		}
		x, err1 := b64(k.X)
		y, err2 := b64(k.Y)
		size := (curve.Params().BitSize + 7) / 8
		if err := errors.Join(err1, err2); err != nil || len(x) != size || len(y) != size {
			return verificationKey{}, fmt.Errorf("bad EC coordinates: %v", err)
		}
		ec, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
		if err != nil {
			return verificationKey{}, fmt.Errorf("bad EC key: %w", err)
		}
		pub = ec
	case "OKP":
		x, err := b64(k.X)
		if k.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return verificationKey{}, fmt.Errorf("unsupported OKP key (crv %q)", k.Crv)
		}
		pub = ed25519.PublicKey(x)
	default:
		return verificationKey{}, fmt.Errorf("unsupported key type %q", k.Kty)
	}
	algs, err := publicKeyAlgs(pub)
	if err != nil {
		return verificationKey{}, err
	}
	if k.Alg != "" {
		if !slices.Contains(algs, k.Alg) {
			return verificationKey{}, fmt.Errorf("alg %q does not fit key type %s", k.Alg, k.Kty)
		}
		algs = []string{k.Alg}
	}
	return verificationKey{kid: k.Kid, key: pub, algs: algs}, nil
}

func b64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
