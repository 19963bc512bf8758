package python_test

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testserver"
)

// TestPythonUnittest runs the package's own tests (`python3 -m unittest`) against real
// gateways: one with the memory engine, one with the Redis engine whose redis-server is
// stopped (so it answers 503 engine_unavailable) until the test asks this wrapper, through
// a control endpoint, to start it again while the client is retrying.
func TestPythonUnittest(t *testing.T) {
	requirePython(t, "celery")
	url := memoryGateway(t)

	rs := testserver.Redis(t)
	redisURL := redisGateway(t, rs)
	rs.Stop()
	controlURL := rs.StartControl(t)

	out := runPython(t, pythonDir(t), []string{
		"HERALD_TEST_URL=" + url,
		"HERALD_TEST_REDIS_URL=" + redisURL,
		"HERALD_TEST_CONTROL_URL=" + controlURL,
		"HERALD_TEST_API_KEY=" + testAPIKey,
	}, 90*time.Second, "-m", "unittest", "discover", "-v", "-s", "tests", "-t", ".")
	t.Logf("python3 -m unittest:\n%s", out)
	m := regexp.MustCompile(`(?m)^Ran (\d+) tests? `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no test summary in the output")
	}
	if n, _ := strconv.Atoi(m[1]); n < 10 {
		t.Fatalf("only %d Python tests ran; discovery lost some", n)
	}
}
