package auth

import (
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/heraldpush/herald"
)

func mustPatterns(t *testing.T, ss ...string) []Pattern {
	t.Helper()
	ps, err := ParsePatterns(ss)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestDecideSubscribe(t *testing.T) {
	user := NewIdentity("42", mustPatterns(t, "user:{sub}", "user:*", "orders:*"), nil)
	colon := NewIdentity("4:2", mustPatterns(t, "*"), nil)
	public := NamespacePolicy{Public: true}
	personal := NamespacePolicy{Personal: true}
	tests := []struct {
		name     string
		id       Identity
		topic    herald.Topic
		p        NamespacePolicy
		required bool
		want     error // nil: allowed
	}{
		{"public anonymous", Identity{Anonymous: true}, "raffle:1", public, true, nil},
		{"public with token", user, "raffle:1", public, true, nil},
		{"anonymous needs token", Identity{Anonymous: true}, "orders:1", NamespacePolicy{}, true, ErrNoToken},
		{"anonymous personal needs token", Identity{Anonymous: true}, "user:42", personal, true, ErrNoToken},
		{"dev mode anonymous", Identity{Anonymous: true}, "orders:1", NamespacePolicy{}, false, nil},
		{"claims allow", user, "orders:1", NamespacePolicy{}, true, nil},
		{"claims deny", user, "admin:1", NamespacePolicy{}, true, ErrForbidden},
		{"personal own", user, "user:42", personal, true, nil},
		{"personal other despite user:*", user, "user:43", personal, true, ErrForbidden},
		{"personal sub-topic despite user:*", user, "user:42:x", personal, true, ErrForbidden},
		{"not personal: user:* applies", user, "user:43", NamespacePolicy{}, true, nil},
		{"personal subject with colon", colon, "user:4:2", personal, true, ErrForbidden},
		{"personal needs a claim too", NewIdentity("42", mustPatterns(t, "orders:*"), nil), "user:42", personal, true, ErrForbidden},
		{"api key cannot subscribe", Identity{APIKey: true}, "orders:1", NamespacePolicy{}, true, ErrForbidden},
		{"zero identity", Identity{}, "orders:1", NamespacePolicy{}, true, ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := DecideSubscribe(tt.id, tt.topic, tt.p, tt.required)
			if err := d.Err(); !errors.Is(err, tt.want) || (tt.want == nil) != d.Allowed {
				t.Fatalf("decision %+v (%v), want %v", d, err, tt.want)
			}
			if d.Reason == "" {
				t.Fatal("decision without a reason")
			}
		})
	}
}

func TestDecidePublish(t *testing.T) {
	pub := NewIdentity("svc", nil, mustPatterns(t, "scan:*"))
	tests := []struct {
		name               string
		id                 Identity
		topic              herald.Topic
		required, loopback bool
		want               error
	}{
		{"api key anywhere", Identity{APIKey: true}, "user:1", true, false, nil},
		{"token allowed", pub, "scan:1", true, false, nil},
		{"token forbidden", pub, "user:1", true, false, ErrForbidden},
		{"anonymous with credentials configured", Identity{Anonymous: true}, "scan:1", true, true, ErrNoToken},
		{"dev loopback", Identity{Anonymous: true}, "scan:1", false, true, nil},
		{"dev remote", Identity{Anonymous: true}, "scan:1", false, false, ErrForbidden},
		{"zero identity", Identity{}, "scan:1", true, true, ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := DecidePublish(tt.id, tt.topic, tt.required, tt.loopback)
			if err := d.Err(); !errors.Is(err, tt.want) || (tt.want == nil) != d.Allowed {
				t.Fatalf("decision %+v (%v), want %v", d, err, tt.want)
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	tests := []struct {
		remote string
		want   bool
	}{
		{"127.0.0.1:80", true},
		{"127.8.9.10:80", true},
		{"[::1]:80", true},
		{"[::ffff:127.0.0.1]:80", true},
		{"[fe80::1%lo]:80", false},
		{"10.0.0.1:80", false},
		{"[::]:80", false},
		{"localhost:80", false},
		{"", false},
		{"@", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		r.Header.Set("X-Forwarded-For", "127.0.0.1")
		if got := IsLoopback(r); got != tt.want {
			t.Errorf("IsLoopback(%q) = %v, want %v", tt.remote, got, tt.want)
		}
	}
}

func TestHTTPStatusAndCodes(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{nil, 200, "internal"},
		{ErrNoToken, 401, "token_required"},
		{ErrInvalidToken, 401, "token_invalid"},
		{ErrExpiredToken, 401, "token_expired"},
		{ErrNotYetValid, 401, "token_not_yet_valid"},
		{ErrForbidden, 403, "forbidden"},
		{ErrKeysUnavailable, 503, "keys_unavailable"},
		{errors.New("x"), 500, "internal"},
	}
	for _, tt := range tests {
		if tt.err == nil {
			if HTTPStatus(nil) != 200 {
				t.Error("HTTPStatus(nil) != 200")
			}
			continue
		}
		if s, c := HTTPStatus(tt.err), ErrorCode(tt.err); s != tt.status || c != tt.code {
			t.Errorf("%v: %d %s, want %d %s", tt.err, s, c, tt.status, tt.code)
		}
		if (WWWAuthenticate(tt.err) != "") != (tt.status == 401) {
			t.Errorf("%v: WWW-Authenticate %q", tt.err, WWWAuthenticate(tt.err))
		}
	}
}
