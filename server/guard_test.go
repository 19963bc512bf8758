package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/heraldpush/herald/server"
)

// The demo pages' publish API is mounted behind GuardPublish: it never lets anyone publish
// who could not POST /v1/publish.
func TestGuardPublishFollowsPublishRules(t *testing.T) {
	key := "guard-test-api-key-0123456789"
	g := newGateway(t, server.Config{Auth: server.AuthConfig{APIKeys: []string{key}}})
	reached := 0
	g.srv.Handle("/demo/", g.srv.GuardPublish(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
		w.WriteHeader(http.StatusAccepted)
	})))
	cases := []struct {
		method, auth string
		status       int
	}{
		{"POST", "", http.StatusUnauthorized},
		{"POST", "Bearer wrong-key-wrong-key-wrong", http.StatusUnauthorized},
		{"POST", "Bearer " + key, http.StatusAccepted},
		{"GET", "", http.StatusAccepted}, // pages and reads are not publishing
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, g.url+"/demo/scan", strings.NewReader("{}"))
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s with %q: %d, want %d", c.method, c.auth, resp.StatusCode, c.status)
		}
	}
	if reached != 2 {
		t.Errorf("the guarded handler ran %d times, want 2", reached)
	}
}
