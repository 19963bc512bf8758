package hub

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every subscription,
// fill, housekeeping and writer goroutine must end with Hub.Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
