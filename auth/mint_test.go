package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestMintRoundTrip(t *testing.T) {
	k := loadTestKeys()
	tests := []struct {
		alg      string
		mintKey  []byte
		verifier func(t *testing.T) Config
	}{
		{"HS256", []byte(testSecret), func(*testing.T) Config { return Config{JWTKey: []byte(testSecret)} }},
		{"HS384", []byte(testSecret), func(*testing.T) Config { return Config{JWTKey: []byte(testSecret)} }},
		{"RS512", privatePEM(t, k.rsa), func(t *testing.T) Config {
			return Config{JWTPublicKeyFile: writeFile(t, "k.pem", publicPEM(t, &k.rsa.PublicKey))}
		}},
		{"ES256", privatePEM(t, k.ec), func(t *testing.T) Config {
			return Config{JWTPublicKeyFile: writeFile(t, "k.pem", publicPEM(t, &k.ec.PublicKey))}
		}},
		{"EdDSA", privatePEM(t, k.ed), func(t *testing.T) Config {
			return Config{JWTPublicKeyFile: writeFile(t, "k.pem", publicPEM(t, k.ed.Public()))}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.alg, func(t *testing.T) {
			tok, err := Mint(tt.mintKey, tt.alg, claims("42", []string{"user:{sub}"}, []string{"scan:*"}))
			if err != nil {
				t.Fatal(err)
			}
			cfg := tt.verifier(t)
			cfg.Now = fixedNow
			a, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			id, err := a.VerifyToken(context.Background(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if id.Subject != "42" || !id.CanSubscribe("user:42") || id.CanSubscribe("user:43") ||
				!id.CanPublish("scan:9") || id.CanPublish("user:42") {
				t.Fatalf("identity %v has the wrong rights", id)
			}
		})
	}
}

func TestMintRefuses(t *testing.T) {
	tests := []struct {
		name, alg string
		key       []byte
		c         Claims
	}{
		{"alg none", "none", []byte(testSecret), claims("1", nil, nil)},
		{"alg NONE", "NONE", []byte(testSecret), claims("1", nil, nil)},
		{"unknown alg", "HS999", []byte(testSecret), claims("1", nil, nil)},
		{"empty key", "HS256", nil, claims("1", nil, nil)},
		{"bad pattern", "HS256", []byte(testSecret), claims("1", []string{"a*b"}, nil)},
		{"RS256 with a secret", "RS256", []byte(testSecret), claims("1", nil, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tok, err := Mint(tt.key, tt.alg, tt.c); err == nil {
				t.Fatalf("Mint = %q, want an error", tok)
			}
		})
	}
}

// FuzzVerifyToken feeds arbitrary strings to the verifier: it must never panic, never accept
// anything but the exact valid seed tokens, and always answer one of the package's errors.
func FuzzVerifyToken(f *testing.F) {
	k := loadTestKeys()
	c := claims("42", []string{"user:{sub}"}, []string{"scan:*"})
	hs, _ := Sign([]byte(testSecret), "HS256", "", c)
	es, _ := Sign(k.ec, "ES256", "", c)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
	valid := map[string]bool{hs: true, es: true}
	for _, s := range []string{hs, es, none, "", ".", "..", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.", hs + "=", strings.ToUpper(hs)} {
		f.Add(s)
	}
	pemFile := writeFile(f, "k.pem", publicPEM(f, &k.ec.PublicKey))
	a, err := New(Config{JWTKey: []byte(testSecret), JWTPublicKeyFile: pemFile, Now: func() time.Time { return testNow }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := a.VerifyToken(context.Background(), tok)
		if err == nil {
			if !valid[tok] {
				t.Fatalf("accepted a token that was never signed: %q (%v)", tok, id)
			}
			return
		}
		if !errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrExpiredToken) && !errors.Is(err, ErrNotYetValid) {
			t.Fatalf("error %v wraps none of the package's errors", err)
		}
		if HTTPStatus(err) != 401 {
			t.Fatalf("error %v maps to %d, want 401", err, HTTPStatus(err))
		}
	})
}
