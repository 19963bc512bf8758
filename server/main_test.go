package server_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every stream, hub,
// stats and presence goroutine must end with Server.Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
