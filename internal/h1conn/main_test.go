package h1conn

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every connection's
// goroutine must end with the Server.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
