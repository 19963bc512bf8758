package auth

// Redaction: the one place that takes credentials out of what is logged — request URLs
// (RedactURL), free text such as net/http's error log (RedactText), and configured
// endpoints such as webhook targets (RedactEndpoint).

import (
	"net/url"
	"regexp"
	"strings"
)

// Redacted replaces a credential in redacted URLs.
const Redacted = "REDACTED"

// RedactURL returns s (a full URL, a request URI such as r.RequestURI, or a bare query
// string) with the values of the "token" and "access_token" query parameters replaced by
// REDACTED, matching parameter names case-insensitively and after unescaping. Everything
// else is kept byte for byte. Use it on every URL that reaches a log line.
func RedactURL(s string) string {
	q := s
	prefix := ""
	if i := strings.IndexByte(s, '?'); i >= 0 {
		prefix, q = s[:i+1], s[i+1:]
	} else if strings.Contains(s, "/") {
		return s // a path or URL without a query
	}
	fragment := ""
	if i := strings.IndexByte(q, '#'); i >= 0 {
		q, fragment = q[:i], q[i:]
	}
	if !strings.Contains(strings.ToLower(q), "token") && !strings.Contains(q, "%") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(prefix)
	for q != "" {
		// Split on '&' and on ';' too: some proxies and frameworks treat ';' as a separator.
		param, rest, sep := q, "", ""
		if i := strings.IndexAny(q, "&;"); i >= 0 {
			param, sep, rest = q[:i], q[i:i+1], q[i+1:]
		}
		if name, _, _ := strings.Cut(param, "="); isTokenParam(name) {
			b.WriteString(name)
			b.WriteByte('=')
			b.WriteString(Redacted)
		} else {
			b.WriteString(param)
		}
		b.WriteString(sep)
		q = rest
	}
	b.WriteString(fragment)
	return b.String()
}

// isTokenParam reports whether a raw query parameter name names a credential.
func isTokenParam(raw string) bool {
	name, err := url.QueryUnescape(raw)
	if err != nil {
		name = raw
	}
	name = strings.ToLower(strings.TrimSpace(name))
	return name == "token" || name == "access_token"
}

// RedactValues returns a copy of v with credential parameters replaced by REDACTED.
func RedactValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		if isTokenParam(k) {
			vs = []string{Redacted}
		}
		out[k] = vs
	}
	return out
}

// tokenInText matches credential parameters in free text, as net/http's error log may
// carry a request URL.
var tokenInText = regexp.MustCompile(`(?i)((?:access_)?token(?:=|%3d))[^&;\s"'#]*`)

// RedactText replaces the values of token= and access_token= anywhere in s.
func RedactText(s string) string {
	if !strings.Contains(strings.ToLower(s), "token") {
		return s
	}
	return tokenInText.ReplaceAllString(s, "${1}"+Redacted)
}

// RedactEndpoint drops a configured URL's query, fragment and user information, which may
// all hold secrets, for logs.
func RedactEndpoint(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			u = u[:j+3] + u[i+1:]
		}
	}
	return u
}
