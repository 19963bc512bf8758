package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestDataValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"pct":40}`, `{"pct":40}`},
		{` [1,2] `, `[1,2]`},
		{`42`, `42`},
		{`"quoted"`, `"quoted"`},
		{`hello world`, `"hello world"`},
		{`{broken`, `"{broken"`},
		{``, `""`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(dataValue(tt.in))
		if err != nil || string(b) != tt.want {
			t.Errorf("dataValue(%q) marshals to %s, %v; want %s", tt.in, b, err, tt.want)
		}
	}
}

func TestClientCommandUsage(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"publish"}, 2, "--topic is required"},
		{[]string{"publish", "--topic", "t", "extra"}, 2, "unexpected argument"},
		{[]string{"publish", "--topic", "t", "--server", "ftp://x"}, 2, "scheme"},
		{[]string{"publish", "-h"}, 0, "Usage: herald publish"},
		{[]string{"subscribe"}, 2, "at least one --topic"},
		{[]string{"subscribe", "--topic", "has space"}, 2, "invalid topic"},
		{[]string{"subscribe", "--nope"}, 2, "not defined"},
		{[]string{"subscribe", "-h"}, 0, "Usage: herald subscribe"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tt.code, tt.stderr)
			}
		})
	}
}

func TestTokenNotPrintedInHelp(t *testing.T) {
	t.Setenv("HERALD_TOKEN", "s3cret-token")
	var stdout, stderr bytes.Buffer
	run(context.Background(), []string{"publish", "-h"}, &stdout, &stderr)
	if strings.Contains(stderr.String(), "s3cret-token") {
		t.Fatalf("help shows the token: %s", stderr.String())
	}
}
