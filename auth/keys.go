package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
)

// MinRSABits is the smallest RSA modulus accepted for verification keys.
const MinRSABits = 2048

// MinHMACKeyLen is the shortest HMAC secret New accepts, in bytes.
const MinHMACKeyLen = 16

// Algorithm families. Each verification key accepts exactly the algorithms of its own
// family, so a public key can never be used as an HMAC secret ("alg confusion") and "none"
// is never accepted.
var (
	hmacAlgs  = []string{"HS256", "HS384", "HS512"}
	rsaAlgs   = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	ed25519Al = []string{"EdDSA"}
)

// verificationKey is one key with the algorithms it may verify.
type verificationKey struct {
	kid  string
	key  any // []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	algs []string
}

func (k verificationKey) allows(alg string) bool { return slices.Contains(k.algs, alg) }

// publicKeyAlgs returns the algorithms a public key may verify, or an error for an
// unsupported or too weak key.
func publicKeyAlgs(pub crypto.PublicKey) ([]string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("RSA key of %d bits is shorter than %d", k.N.BitLen(), MinRSABits)
		}
		return rsaAlgs, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return []string{"ES256"}, nil
		case elliptic.P384():
			return []string{"ES384"}, nil
		case elliptic.P521():
			return []string{"ES512"}, nil
		}
		return nil, fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, errors.New("bad Ed25519 public key size")
		}
		return ed25519Al, nil
	}
	return nil, fmt.Errorf("unsupported public key type %T", pub)
}

// parsePublicKeyPEM reads the first public key or certificate from PEM data: "PUBLIC KEY"
// (PKIX: RSA, ECDSA, Ed25519), "RSA PUBLIC KEY" (PKCS #1) or "CERTIFICATE".
func parsePublicKeyPEM(data []byte) (verificationKey, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return verificationKey{}, errors.New("no PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE block found")
		}
		var pub crypto.PublicKey
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				pub = cert.PublicKey
			}
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			return verificationKey{}, fmt.Errorf("found a %s: give the public key, never the private key", block.Type)
		default:
			continue
		}
		if err != nil {
			return verificationKey{}, fmt.Errorf("parse %s: %w", block.Type, err)
		}
		algs, err := publicKeyAlgs(pub)
		if err != nil {
			return verificationKey{}, err
		}
		return verificationKey{key: pub, algs: algs}, nil
	}
}
