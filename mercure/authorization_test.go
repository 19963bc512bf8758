package mercure_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// writePublicKey writes pub as a PEM file and returns its path.
func writePublicKey(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPublicKeyTokens: subscriber tokens signed with RS256, ES256 and EdDSA verify against
// the configured public key and grant private updates, under "mercure" or
// "https://mercure.rocks/"; a token of another algorithm family or key is refused.
func TestPublicKeyTokens(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	claim := map[string]any{"subscribe": []string{"https://example.com/{x}"}}
	sign := func(m jwt.SigningMethod, key any, claimKey string) string {
		tok, err := jwt.NewWithClaims(m, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix(), claimKey: claim}).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	cases := []struct {
		name   string
		pub    crypto.PublicKey
		tok    string
		status int
	}{
		{"RS256", &rsaKey.PublicKey, sign(jwt.SigningMethodRS256, rsaKey, "mercure"), 200},
		{"ES256", &ecKey.PublicKey, sign(jwt.SigningMethodES256, ecKey, "mercure"), 200},
		{"EdDSA", edKey.Public(), sign(jwt.SigningMethodEdDSA, edKey, "mercure"), 200},
		{"namespaced claim", &ecKey.PublicKey, sign(jwt.SigningMethodES256, ecKey, "https://mercure.rocks/"), 200},
		{"other key", &ecKey.PublicKey, sign(jwt.SigningMethodES256, otherEC, "mercure"), 401},
		{"HS256 with the public key configured only", &ecKey.PublicKey, token(t, subKey, claim), 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mc := mercureConfig()
			mc.SubscriberJWTKey = ""
			mc.SubscriberJWTPublicKey = writePublicKey(t, c.pub)
			n := newNode(t, mc)
			s := subscribe(t, n.url, form("topic", "https://example.com/{x}"), http.Header{"Authorization": {"Bearer " + c.tok}})
			if s.resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", s.resp.StatusCode, c.status)
			}
			if c.status != 200 {
				return
			}
			priv := mustPublish(t, n.url, form("topic", "https://example.com/1", "data", "secret", "private", "on"))
			s.nextIs(t, priv)
		})
	}
}
