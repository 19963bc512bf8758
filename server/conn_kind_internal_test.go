package server

import (
	"errors"
	"testing"

	"golang.org/x/net/http2"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		in      string
		kind    connKind
		decided bool
		err     error
	}{
		{"", kindStd, false, nil},
		{"P", kindStd, false, nil},
		{"PRI * HTTP/2.0\r\n", kindStd, false, nil},
		{http2.ClientPreface, kindH2, true, nil},
		{http2.ClientPreface + "more", kindH2, true, nil},
		{"PRI * HTTP/1.1\r\n\r\n", kindStd, true, errBadPreface},
		{"PO", kindStd, false, nil},
		{"POST /v1/publish", kindStd, false, nil},
		{"POST /v1/publish ", kindPublish, true, nil},
		{"POST /v1/publish HTTP/1.1\r\n", kindPublish, true, nil},
		{"POST /v1/publish?x=1 HTTP/1.1\r\n", kindPublish, true, nil},
		{"POST /v1/publishx HTTP/1.1\r\n", kindStd, true, nil},
		{"POST /v1/publish/ HTTP/1.1\r\n", kindStd, true, nil},
		{"POST /v1/pub", kindStd, false, nil},
		{"POST /v2", kindStd, true, nil},
		{"GET /v1/events HTTP/1.1\r\n", kindStd, true, nil},
		{"G", kindStd, true, nil},
		{"post /v1/publish HTTP/1.1\r\n", kindStd, true, nil},
	}
	for _, tt := range tests {
		kind, decided, err := classify([]byte(tt.in))
		if kind != tt.kind || decided != tt.decided || !errors.Is(err, tt.err) {
			t.Errorf("classify(%q) = %v, %v, %v; want %v, %v, %v", tt.in, kind, decided, err, tt.kind, tt.decided, tt.err)
		}
	}
}
