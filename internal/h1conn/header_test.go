package h1conn

import (
	"net/http"
	"strings"
	"testing"
)

// TestAppendHeader checks appendHeader against http.Header.WriteSubset.
func TestAppendHeader(t *testing.T) {
	many := http.Header{}
	for i := range maxFastKeys + 2 {
		many.Set(strings.Repeat("K", i+1), "v")
	}
	tests := []struct {
		name    string
		h       http.Header
		exclude map[string]bool
	}{
		{"empty", http.Header{}, nil},
		{"json answer", http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"},
			"X-Content-Type-Options": {"nosniff"}}, nil},
		{"excluded", http.Header{"Transfer-Encoding": {"chunked"}, "Connection": {"keep-alive"}, "A": {"1"}}, excludeTEConn},
		{"repeated values", http.Header{"Vary": {"Origin", "Accept"}, "A": {"x"}}, nil},
		{"empty value", http.Header{"X-Empty": {""}, "X-None": {}}, nil},
		{"value to trim", http.Header{"A": {" padded\t"}, "B": {"b"}}, nil},
		{"value with newline", http.Header{"A": {"one\ntwo"}, "B": {"x\r\ny"}}, nil},
		{"invalid name", http.Header{"Bad Name": {"v"}, "Good": {"v"}}, nil},
		{"lower-case name", http.Header{"lower": {"v"}, "Upper": {"v"}}, nil},
		{"many keys", many, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want strings.Builder
			if err := tt.h.WriteSubset(&want, tt.exclude); err != nil {
				t.Fatal(err)
			}
			if got := string(appendHeader([]byte("prefix"), tt.h, tt.exclude)); got != "prefix"+want.String() {
				t.Errorf("appendHeader = %q, want %q", got, "prefix"+want.String())
			}
		})
	}
}
