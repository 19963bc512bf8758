package h1conn

// Writing a response header as http.Header.WriteSubset does — keys sorted, each value on a
// line of its own — without its sorter and replacer for the common header: a few keys with
// valid names and values that need no cleaning. Anything else is left to WriteSubset.

import (
	"net/http"

	"golang.org/x/net/http/httpguts"
)

// maxFastKeys is the most header keys appendHeader sorts itself.
const maxFastKeys = 16

// appendHeader appends h's lines but the excluded keys' to b, byte for byte what
// h.WriteSubset writes.
func appendHeader(b []byte, h http.Header, exclude map[string]bool) []byte {
	if len(h) > maxFastKeys {
		return appendSubset(b, h, exclude)
	}
	var arr [maxFastKeys]string
	keys := arr[:0]
	for k, vs := range h {
		if exclude[k] {
			continue
		}
		if !httpguts.ValidHeaderFieldName(k) {
			return appendSubset(b, h, exclude)
		}
		for _, v := range vs {
			if !plainValue(v) {
				return appendSubset(b, h, exclude)
			}
		}
		// Insertion sort: a handful of keys.
		i := len(keys)
		keys = append(keys, k)
		for ; i > 0 && keys[i-1] > k; i-- {
			keys[i] = keys[i-1]
		}
		keys[i] = k
	}
	for _, k := range keys {
		for _, v := range h[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	return b
}

// plainValue reports whether WriteSubset writes v as it is: no CR or LF (which it turns
// into spaces) and no white space at either end (which it trims).
func plainValue(v string) bool {
	if v != "" && (isSpace(v[0]) || isSpace(v[len(v)-1])) {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] == '\r' || v[i] == '\n' {
			return false
		}
	}
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// appendSubset is h.WriteSubset appending to b.
func appendSubset(b []byte, h http.Header, exclude map[string]bool) []byte {
	_ = h.WriteSubset((*appender)(&b), exclude)
	return b
}
