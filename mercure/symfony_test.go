package mercure_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestSymfonyPublisher: Symfony's own Mercure component (Debian's php-symfony-mercure and
// php-symfony-http-client, run by php-cli) publishes public and private updates, with and
// without id, type and retry, to a real node; subscribers see exactly what they may, with
// the ids Symfony was answered.
func TestSymfonyPublisher(t *testing.T) {
	php, err := exec.LookPath("php")
	if err != nil {
		t.Fatalf("php-cli is needed (apt-get install php-cli php-symfony-mercure php-symfony-http-client): %v", err)
	}
	n := newNode(t, mercureConfig())
	books := "https://example.com/books/{id}"
	private := subscribe(t, n.url, form("topic", books), http.Header{
		"Authorization": {"Bearer " + token(t, subKey, map[string]any{"subscribe": []string{books}})}})
	anon := subscribe(t, n.url, form("topic", books), nil)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, php, "testdata/symfony_publish.php")
	cmd.Env = append(os.Environ(), "MERCURE_URL="+n.url+"/.well-known/mercure", "MERCURE_JWT="+publisherToken(t))
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("php: %v\n%s%s", err, out, stderr)
	}
	ids := strings.Fields(string(out))
	if len(ids) != 4 {
		t.Fatalf("symfony printed %q, want 4 ids", out)
	}
	if ids[1] != "urn:symfony:2" || ids[2] != "sym-3" {
		t.Errorf("publisher ids answered as %q and %q", ids[1], ids[2])
	}
	for _, i := range []int{0, 3} {
		if !strings.HasPrefix(ids[i], "urn:uuid:") {
			t.Errorf("generated id %q is not a urn:uuid:", ids[i])
		}
	}

	want := []struct{ id, typ, data string }{
		{ids[0], "", `{"n":1}`},
		{ids[1], "book.updated", `{"n":2}`},
		{ids[2], "ping", "line one\nline two"},
		{ids[3], "", `{"n":4}`},
	}
	for _, w := range want {
		ev := private.nextIs(t, w.id)
		if ev.Name != w.typ || string(ev.Data) != w.data {
			t.Errorf("update %s: type %q data %q, want %q %q", w.id, ev.Name, ev.Data, w.typ, w.data)
		}
		if w.id == ids[2] && ev.Retry != 2500*time.Millisecond {
			t.Errorf("update %s: retry %v, want 2.5s", w.id, ev.Retry)
		}
	}
	// The anonymous subscriber gets the public ones only.
	anon.nextIs(t, ids[0])
	anon.nextIs(t, ids[2])
	marker := mustPublish(t, n.url, form("topic", "https://example.com/books/5", "data", "marker"))
	anon.nextIs(t, marker)
}
