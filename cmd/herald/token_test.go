package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/auth"
)

const cliSecret = "cli-test-secret-0123456789"

func TestTokenCommand(t *testing.T) {
	var out, errb bytes.Buffer
	args := []string{"--key", cliSecret, "--sub", "42", "--subscribe", "user:{sub}", "--subscribe", "raffle:*", "--publish", "scan:*", "--ttl", "10m", "--alg", "HS384"}
	if code := run(context.Background(), append([]string{"token"}, args...), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	a, err := auth.New(auth.Config{JWTKey: []byte(cliSecret)})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/v1/events", nil)
	r.Header.Set("Authorization", "Bearer "+strings.TrimSpace(out.String()))
	id, err := a.Subscriber(r)
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != "42" || !id.CanSubscribe("user:42") || !id.CanSubscribe("raffle:9") || id.CanSubscribe("user:43") || !id.CanPublish("scan:1") {
		t.Fatalf("token gives the wrong rights: %v", id)
	}
	if d := time.Until(id.ExpiresAt); d < 9*time.Minute || d > 11*time.Minute {
		t.Fatalf("token expires in %v, want 10m", d)
	}
}

func TestTokenCommandKeyFromEnvironment(t *testing.T) {
	t.Setenv("HERALD_JWT_KEY", cliSecret)
	var out, errb bytes.Buffer
	if err := runToken(context.Background(), []string{"--sub", "7"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	a, _ := auth.New(auth.Config{JWTKey: []byte(cliSecret)})
	if _, err := a.VerifyToken(context.Background(), strings.TrimSpace(out.String())); err != nil {
		t.Fatal(err)
	}
}

func TestTokenCommandPrivateKey(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	privFile := filepath.Join(dir, "priv.pem")
	os.WriteFile(privFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	pubDER, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	pubFile := filepath.Join(dir, "pub.pem")
	os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600)

	var out, errb bytes.Buffer
	if err := runToken(context.Background(), []string{"--alg", "ES256", "--private-key", privFile, "--sub", "1", "--kid", "k1"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{JWTPublicKeyFile: pubFile})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.VerifyToken(context.Background(), strings.TrimSpace(out.String())); err != nil {
		t.Fatal(err)
	}
}

func TestTokenCommandErrors(t *testing.T) {
	t.Setenv("HERALD_JWT_KEY", "")
	tests := []struct {
		name  string
		args  []string
		usage bool
	}{
		{"no sub", []string{"--key", cliSecret}, true},
		{"no key", []string{"--sub", "1"}, true},
		{"bad ttl", []string{"--key", cliSecret, "--sub", "1", "--ttl", "-1h"}, true},
		{"unknown flag", []string{"--nope"}, true},
		{"extra args", []string{"--key", cliSecret, "--sub", "1", "extra"}, true},
		{"bad pattern", []string{"--key", cliSecret, "--sub", "1", "--subscribe", "a*b"}, false},
		{"alg none", []string{"--key", cliSecret, "--sub", "1", "--alg", "none", "--private-key", "/dev/null"}, false},
		{"RS256 without key file", []string{"--sub", "1", "--alg", "RS256"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := runToken(context.Background(), tt.args, &out, &errb)
			if err == nil {
				t.Fatalf("no error; printed %q", out.String())
			}
			var ue usageError
			if errors.As(err, &ue) != tt.usage {
				t.Fatalf("error %v: usage error %v, want %v", err, !tt.usage, tt.usage)
			}
			if out.Len() != 0 {
				t.Fatalf("printed %q on error", out.String())
			}
		})
	}
	var errb bytes.Buffer
	if err := runToken(context.Background(), []string{"-h"}, &bytes.Buffer{}, &errb); !errors.Is(err, flag.ErrHelp) || !strings.Contains(errb.String(), "--subscribe") && !strings.Contains(errb.String(), "-subscribe") {
		t.Fatalf("-h: %v, %q", err, errb.String())
	}
}
