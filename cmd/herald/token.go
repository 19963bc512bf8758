package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldpush/herald/auth"
)

// patternList is a repeatable flag of topic patterns. Unlike listFlag it does not split on
// commas: a topic, and so a pattern, may contain one.
type patternList []string

func (l *patternList) String() string     { return strings.Join(*l, " ") }
func (l *patternList) Set(s string) error { *l = append(*l, s); return nil }

// runToken mints a JWT for tests and scripts:
//
//	herald token --key SECRET --sub 42 --subscribe 'user:{sub}' --publish 'scan:*' --ttl 1h
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var subscribe, publish patternList
	key := fs.String("key", "", "HMAC secret for HS256/384/512 (default $HERALD_JWT_KEY)")
	keyFile := fs.String("private-key", "", "PEM private key `file` for RS*, PS*, ES* and EdDSA")
	alg := fs.String("alg", "HS256", "signing algorithm: HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512, EdDSA")
	sub := fs.String("sub", "", "subject (the user id), required")
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the token")
	iss := fs.String("iss", "", "issuer claim (optional)")
	aud := fs.String("aud", "", "audience claim (optional)")
	kid := fs.String("kid", "", "key id header, for JWKS (optional)")
	fs.Var(&subscribe, "subscribe", "topic `pattern` the token may subscribe to (repeatable), e.g. 'user:{sub}'")
	fs.Var(&publish, "publish", "topic `pattern` the token may publish to (repeatable), e.g. 'scan:*'")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: herald token --key SECRET --sub ID [--subscribe PATTERN]... [--publish PATTERN]... [--ttl 1h]")
		fmt.Fprintln(stderr, "\nPrints a signed JWT. Patterns: exact topics, a trailing '*' for a prefix, {sub} for the subject.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if *sub == "" {
		return usageError{errors.New("--sub is required")}
	}
	if *ttl <= 0 {
		return usageError{errors.New("--ttl must be positive")}
	}
	var signingKey []byte
	if strings.HasPrefix(*alg, "HS") {
		signingKey = []byte(*key)
		if *key == "" {
			signingKey = []byte(os.Getenv("HERALD_JWT_KEY"))
		}
		if len(signingKey) == 0 {
			return usageError{errors.New("--key or HERALD_JWT_KEY is required for " + *alg)}
		}
	} else {
		if *keyFile == "" {
			return usageError{errors.New("--private-key FILE is required for " + *alg)}
		}
		data, err := os.ReadFile(*keyFile)
		if err != nil {
			return fmt.Errorf("read private key: %w", err)
		}
		signingKey = data
	}
	now := time.Now()
	c := auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   *sub,
			Issuer:    *iss,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(*ttl)),
		},
		Herald: auth.HeraldClaims{Subscribe: subscribe, Publish: publish},
	}
	if *aud != "" {
		c.Audience = jwt.ClaimStrings{*aud}
	}
	var tok string
	var err error
	if *kid == "" {
		tok, err = auth.Mint(signingKey, *alg, c)
	} else {
		tok, err = mintWithKID(signingKey, *alg, *kid, c)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

// mintWithKID signs like auth.Mint and sets the kid header.
func mintWithKID(key []byte, alg, kid string, c auth.Claims) (string, error) {
	if strings.HasPrefix(alg, "HS") {
		return auth.Sign(key, alg, kid, c)
	}
	priv, err := auth.ParsePrivateKeyPEM(key)
	if err != nil {
		return "", err
	}
	return auth.Sign(priv, alg, kid, c)
}
