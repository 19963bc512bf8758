package auth

import (
	"net/url"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/v1/events?topic=a&token=eyJ.abc.def", "/v1/events?topic=a&token=REDACTED"},
		{"/v1/events?token=x&topic=a", "/v1/events?token=REDACTED&topic=a"},
		{"https://h/v1/events?TOKEN=x", "https://h/v1/events?TOKEN=REDACTED"},
		{"/v1/events?%74oken=x", "/v1/events?%74oken=REDACTED"},
		{"/v1/events?access_token=x&a=b", "/v1/events?access_token=REDACTED&a=b"},
		{"/v1/events?a=1;token=x", "/v1/events?a=1;token=REDACTED"},
		{"/v1/events?token", "/v1/events?token=REDACTED"},
		{"/v1/events?token=a&token=b", "/v1/events?token=REDACTED&token=REDACTED"},
		{"/v1/events?tokens=x&mytoken=y", "/v1/events?tokens=x&mytoken=y"},
		{"/v1/events?topic=token", "/v1/events?topic=token"},
		{"/v1/events?token=x#frag", "/v1/events?token=REDACTED#frag"},
		{"/v1/events", "/v1/events"},
		{"/token/path", "/token/path"},
		{"topic=a&token=x", "topic=a&token=REDACTED"},
		{"", ""},
		{"/v1/events?a=1&", "/v1/events?a=1&"},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRedactValues(t *testing.T) {
	v := url.Values{"topic": {"a"}, "token": {"secret"}, "Access_Token": {"s2"}}
	got := RedactValues(v)
	if got.Get("token") != Redacted || got["Access_Token"][0] != Redacted || got.Get("topic") != "a" {
		t.Fatalf("RedactValues = %v", got)
	}
	if v.Get("token") != "secret" {
		t.Fatal("RedactValues changed its argument")
	}
}

// queryOf returns the query part of a URL, request URI or bare query string, as RedactURL
// sees it.
func queryOf(s string) (string, bool) {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[i+1:]
	} else if strings.Contains(s, "/") {
		return "", false
	}
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	return s, true
}

func FuzzRedactURL(f *testing.F) {
	f.Add("/v1/events?topic=a&token=secret")
	f.Add("/v1/events?%74%6Fken=secret")
	f.Add("token=secret;a=b")
	f.Add("/v1/events?a=b&token=x#y")
	f.Fuzz(func(t *testing.T, s string) {
		out := RedactURL(s)
		q, ok := queryOf(out)
		if !ok {
			if out != s {
				t.Fatalf("RedactURL(%q) = %q changed a URL without query", s, out)
			}
			return
		}
		// Whatever net/url reads as a credential parameter, split on '&' or ';', is gone.
		for _, part := range strings.FieldsFunc(q, func(r rune) bool { return r == '&' || r == ';' }) {
			v, err := url.ParseQuery(part)
			if err != nil {
				continue
			}
			for name, vals := range v {
				if n := strings.ToLower(name); n != "token" && n != "access_token" {
					continue
				}
				for _, val := range vals {
					if val != Redacted {
						t.Fatalf("RedactURL(%q) = %q leaves %s=%q", s, out, name, val)
					}
				}
			}
		}
	})
}

func TestRedactText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"GET /v1/events?topic=a&token=eyJ.abc.def HTTP/1.1", "GET /v1/events?topic=a&token=REDACTED HTTP/1.1"},
		{"url=/v1/events?TOKEN=abc;x=1", "url=/v1/events?TOKEN=REDACTED;x=1"},
		{`"access_token=s3cr3t" and token%3Dabc`, `"access_token=REDACTED" and token%3DREDACTED`},
		{"http: TLS handshake error from 1.2.3.4:5: EOF", "http: TLS handshake error from 1.2.3.4:5: EOF"},
		{"token_expired: nothing to hide", "token_expired: nothing to hide"},
	}
	for _, c := range cases {
		if got := RedactText(c.in); got != c.want {
			t.Errorf("RedactText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestRedactEndpoint(t *testing.T) {
	cases := []struct{ in, want string }{
		{"https://user:pw@hooks.example.com/h?sig=abc#frag", "https://hooks.example.com/h"},
		{"http://hooks.example.com/plain", "http://hooks.example.com/plain"},
	}
	for _, c := range cases {
		if got := RedactEndpoint(c.in); got != c.want {
			t.Errorf("RedactEndpoint(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
