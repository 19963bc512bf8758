package auth

import "github.com/golang-jwt/jwt/v5"

// Claims are the JWT claims Herald reads: the registered claims (sub, exp, nbf, iat, iss,
// aud…) and the "herald" object with the topic patterns.
type Claims struct {
	jwt.RegisteredClaims
	Herald HeraldClaims `json:"herald,omitzero"`
}

// HeraldClaims is the "herald" claim: the topic patterns a token may subscribe to and
// publish to, e.g. {"subscribe": ["raffle:*", "user:{sub}"], "publish": ["scan:*"]}.
type HeraldClaims struct {
	Subscribe []string `json:"subscribe,omitempty"`
	Publish   []string `json:"publish,omitempty"`
}
