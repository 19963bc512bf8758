package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// anyAlgs are all the algorithms keyFor knows; keyFor still accepts each only for a key of
// its own family.
var anyAlgs = append(append(append([]string(nil), hmacAlgs...), rsaAlgs...), "ES256", "ES384", "ES512", "EdDSA")

// VerifyClaims verifies tok's signature with the authenticator's keys, like VerifyToken, and
// decodes its payload into claims, for protocols with claims of their own (Mercure's
// "mercure" claim). exp and nbf are checked when present, with DefaultLeeway; exp is not
// required, as the Mercure reference hub does not require it. Errors wrap ErrInvalidToken,
// ErrExpiredToken, ErrNotYetValid or ErrKeysUnavailable.
func (a *Authenticator) VerifyClaims(ctx context.Context, tok string, claims jwt.Claims) error {
	if !a.verifying {
		return fmt.Errorf("%w: no JWT key is configured", ErrInvalidToken)
	}
	if len(tok) > MaxTokenLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, MaxTokenLen)
	}
	p := jwt.NewParser(jwt.WithValidMethods(anyAlgs), jwt.WithLeeway(DefaultLeeway),
		jwt.WithTimeFunc(a.now), jwt.WithStrictDecoding())
	var keyErr error
	_, err := p.ParseWithClaims(tok, claims, func(t *jwt.Token) (any, error) {
		k, err := a.keyFor(ctx, t)
		keyErr = err
		return k, err
	})
	switch {
	case err == nil:
		return nil
	case keyErr != nil:
		return keyErr
	case errors.Is(err, jwt.ErrTokenExpired):
		return fmt.Errorf("%w: %w", ErrExpiredToken, err)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return fmt.Errorf("%w: %w", ErrNotYetValid, err)
	default:
		return fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
}
