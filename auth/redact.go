package auth

import (
	"net/url"
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
