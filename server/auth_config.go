package server

// Authentication settings: who may subscribe and publish, and the admin token.

import (
	"errors"
	"fmt"
	"time"

	"github.com/heraldpush/herald/auth"
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

// validate checks the settings that need no key material (the authenticator checks keys).
func (c AuthConfig) validate() error {
	if c.AdminToken != "" && len(c.AdminToken) < MinAdminTokenLen {
		return fmt.Errorf("admin-token of %d bytes is shorter than %d", len(c.AdminToken), MinAdminTokenLen)
	}
	if c.ProtectMetrics && c.AdminToken == "" {
		return errors.New("protect-metrics needs an admin-token")
	}
	return nil
}
