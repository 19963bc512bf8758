// Package auth decides who may subscribe to and publish on which Herald topics: it verifies
// JWTs and API keys, matches topic patterns, and applies namespace policies. The HTTP server
// calls it once per request; nothing here keeps per-connection state.
//
// # Credentials
//
// Subscribers present a JWT in the Authorization: Bearer header, in a cookie (default
// "herald_token"), or in the "token" query parameter (EventSource cannot set headers), and
// the first one found is the only one read. Publishers present either an API key or a JWT,
// and only in the Authorization header: a cookie would be sent by a browser on a cross-site
// request, and a URL ends up in logs.
//
// JWTs are verified with github.com/golang-jwt/jwt/v5. Each key accepts only its own algorithm
// family, so "alg": "none" is never accepted and a public key can never be used as an HMAC
// secret:
//
//	--jwt-key SECRET       HS256, HS384, HS512
//	--jwt-public-key FILE  RS256/384/512 and PS256/384/512 (RSA ≥ 2048 bits),
//	                       ES256/ES384/ES512 (by the key's curve), EdDSA (Ed25519)
//	--jwks-url URL         the same public-key algorithms; the token's kid selects the key
//
// exp is required; exp and nbf are checked with a leeway (DefaultLeeway). A JWKS is fetched
// with a timeout, cached, refreshed in the background when older than JWKSRefresh, and
// refetched at once when a token names an unknown kid (at most once per JWKSMinInterval), so
// a rotated-in key is picked up without a restart.
//
// # Claims
//
//	{"sub": "42", "exp": 1767225600,
//	 "herald": {"subscribe": ["raffle:*", "user:{sub}"], "publish": ["scan:*"]}}
//
// # Pattern grammar
//
// A pattern is 1–512 bytes of printable ASCII without spaces (like a topic), made of:
//
//   - literal bytes, matched exactly: "raffle:42" matches only the topic "raffle:42";
//   - a trailing '*', the only place a '*' may stand, which matches any rest of the topic,
//     including nothing: "raffle:*" matches "raffle:" and "raffle:42:odds", "*" matches every
//     topic;
//   - the placeholder "{sub}", replaced by the token's subject: "user:{sub}" matches
//     "user:42" for sub "42". It may appear several times; "{" and "}" are allowed nowhere
//     else. In a pattern ending with '*', each {sub} must be followed by a ':' before the
//     next {sub} or the '*': "user:{sub}*" is rejected (subject "4" would match "user:42"),
//     "user:{sub}:*" is fine.
//
// A pattern with {sub} never matches when the subject is empty or not a valid subject (see
// ValidSubject): it must be printable ASCII without spaces and contain no '*', ':', '{' or
// '}'. Excluding ':' keeps one subject's topics from being a prefix of another's
// ("user:{sub}:*" for sub "a" must not reach sub "a:b"'s topics).
//
// # Namespace policy
//
// A namespace is the part of a topic before its first ':'. A public namespace lets anyone
// subscribe. In any other namespace a token is required once a JWT key source is configured;
// without one Herald is in development mode (anonymous subscribers everywhere; publishing
// only from loopback unless API keys are configured). In a personal namespace a token may
// read only "<namespace>:<sub>", whatever its claims say. See DecideSubscribe and
// DecidePublish.
//
// # Errors
//
// Failures wrap ErrNoToken, ErrInvalidToken, ErrExpiredToken, ErrNotYetValid (401),
// ErrForbidden (403) or ErrKeysUnavailable (503); HTTPStatus and ErrorCode map them. Error
// texts never contain a token, and RedactURL removes tokens from URLs before they are logged.
package auth
