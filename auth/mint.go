package auth

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Mint signs claims into a token, for tests and scripts. For HS256/384/512 key is the
// secret; for RS*, PS*, ES* and EdDSA it is a PEM private key (PKCS #8, PKCS #1 or SEC 1).
// The herald patterns are validated first, so a minted token is one Herald accepts.
func Mint(key []byte, alg string, c Claims) (string, error) {
	if slices.Contains(hmacAlgs, alg) {
		if len(key) == 0 {
			return "", errors.New("auth: mint: empty key")
		}
		return Sign(key, alg, "", c)
	}
	priv, err := ParsePrivateKeyPEM(key)
	if err != nil {
		return "", fmt.Errorf("auth: mint %s: %w", alg, err)
	}
	return Sign(priv, alg, "", c)
}

// Sign signs claims with key (a []byte secret or a crypto private key) under alg, setting the
// kid header when kid is not empty. "none" is refused.
func Sign(key any, alg, kid string, c Claims) (string, error) {
	if strings.EqualFold(alg, "none") {
		return "", errors.New("auth: sign: alg none is never allowed")
	}
	m := jwt.GetSigningMethod(alg)
	if m == nil {
		return "", fmt.Errorf("auth: sign: unknown algorithm %q", alg)
	}
	if _, _, err := claimPatterns(c.Herald); err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	t := jwt.NewWithClaims(m, c)
	if kid != "" {
		t.Header["kid"] = kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("auth: sign %s: %w", alg, err)
	}
	return s, nil
}

// ParsePrivateKeyPEM parses a PEM private key: PKCS #8 ("PRIVATE KEY"), PKCS #1 ("RSA PRIVATE
// KEY") or SEC 1 ("EC PRIVATE KEY").
func ParsePrivateKeyPEM(data []byte) (crypto.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("key is not PEM")
	}
	switch block.Type {
	case "PRIVATE KEY":
		return x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(block.Bytes)
	}
	return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
}
