package auth

import (
	"errors"
	"net/http"
)

// Errors returned by Authenticator and by Decision.Err. The HTTP layer maps them to status
// codes and error codes with HTTPStatus and ErrorCode; they are always wrapped with a reason
// that is safe to show to the client (it never contains the token).
var (
	// ErrNoToken reports a request that carries no credentials where they are required (401).
	ErrNoToken = errors.New("authentication required")
	// ErrInvalidToken reports credentials that cannot be verified: malformed, bad signature,
	// disallowed algorithm, unknown key, unknown API key, bad claims (401).
	ErrInvalidToken = errors.New("invalid token")
	// ErrExpiredToken reports a token whose exp lies in the past, beyond the leeway (401).
	ErrExpiredToken = errors.New("token expired")
	// ErrNotYetValid reports a token whose nbf lies in the future, beyond the leeway (401).
	ErrNotYetValid = errors.New("token not yet valid")
	// ErrForbidden reports a verified identity that may not use the topic (403).
	ErrForbidden = errors.New("forbidden")
	// ErrKeysUnavailable reports that no verification key could be loaded: the JWKS endpoint
	// has never answered (503). The request may be retried.
	ErrKeysUnavailable = errors.New("verification keys unavailable")
)

// HTTPStatus returns the status code for an error from this package: 401 for a missing,
// invalid, expired or not-yet-valid token, 403 for a forbidden topic, 503 when keys are
// unavailable, and 500 for anything else.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrNoToken), errors.Is(err, ErrInvalidToken),
		errors.Is(err, ErrExpiredToken), errors.Is(err, ErrNotYetValid):
		return http.StatusUnauthorized
	case errors.Is(err, ErrKeysUnavailable):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// ErrorCode returns the machine-readable code for the JSON error body:
// "token_required", "token_invalid", "token_expired", "token_not_yet_valid", "forbidden",
// "keys_unavailable", or "internal".
func ErrorCode(err error) string {
	switch {
	case errors.Is(err, ErrForbidden):
		return "forbidden"
	case errors.Is(err, ErrNoToken):
		return "token_required"
	case errors.Is(err, ErrExpiredToken):
		return "token_expired"
	case errors.Is(err, ErrNotYetValid):
		return "token_not_yet_valid"
	case errors.Is(err, ErrInvalidToken):
		return "token_invalid"
	case errors.Is(err, ErrKeysUnavailable):
		return "keys_unavailable"
	default:
		return "internal"
	}
}

// WWWAuthenticate returns the value for a WWW-Authenticate header to send with a 401
// answer for err (RFC 6750), or "" when err is not a 401.
func WWWAuthenticate(err error) string {
	if HTTPStatus(err) != http.StatusUnauthorized {
		return ""
	}
	if errors.Is(err, ErrNoToken) {
		return `Bearer realm="herald"`
	}
	return `Bearer realm="herald", error="invalid_token"`
}
