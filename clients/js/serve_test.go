package js_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	heraldjs "github.com/heraldpush/herald/clients/js"
)

// TestHandlerServesTheFiles checks what browsers rely on: the bytes of the package's files,
// a JavaScript type for the module (a module script with a wrong type does not run), and
// caching: revalidation by ETag, immutable only under the current ?v= hash.
func TestHandlerServesTheFiles(t *testing.T) {
	h := heraldjs.NewHandler()
	ts := httptest.NewServer(h)
	defer ts.Close()
	for _, tc := range []struct {
		path, file, ctype, cache string
		status                   int
	}{
		{"/herald.js", "herald.js", "text/javascript; charset=utf-8", "public, max-age=0, must-revalidate", 200},
		{"/herald.js?v=" + h.Version(), "herald.js", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", 200},
		{"/herald.js?v=stale", "herald.js", "text/javascript; charset=utf-8", "public, max-age=0, must-revalidate", 200},
		{"/herald.d.ts", "herald.d.ts", "application/typescript; charset=utf-8", "public, max-age=0, must-revalidate", 200},
		{"/other.js", "", "", "", 404},
	} {
		t.Run(tc.path, func(t *testing.T) {
			res, err := http.Get(ts.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			if tc.status != 200 {
				return
			}
			want, _ := os.ReadFile(tc.file)
			if string(body) != string(want) {
				t.Errorf("body differs from %s", tc.file)
			}
			if got := res.Header.Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type %q, want %q", got, tc.ctype)
			}
			if got := res.Header.Get("Cache-Control"); got != tc.cache {
				t.Errorf("Cache-Control %q, want %q", got, tc.cache)
			}
			req, _ := http.NewRequest(http.MethodGet, ts.URL+tc.path, nil)
			req.Header.Set("If-None-Match", res.Header.Get("ETag"))
			res2, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res2.Body.Close()
			if res2.StatusCode != http.StatusNotModified {
				t.Errorf("revalidation with the ETag: status %d, want 304", res2.StatusCode)
			}
		})
	}
	res, err := http.Post(ts.URL+"/herald.js", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", res.StatusCode)
	}
}
