package clustertest

import (
	"testing"
	"time"
)

// WaitLeader waits until exactly one of n nodes leads (leads(i) reports node i, e.g. its
// bridge lease) and returns its index; it fails the test if two ever lead at once or none
// does within 10 s.
func WaitLeader(t *testing.T, n int, leads func(i int) bool) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		leader, count := -1, 0
		for i := range n {
			if leads(i) {
				leader, count = i, count+1
			}
		}
		if count > 1 {
			t.Fatalf("%d leaders at once", count)
		}
		if count == 1 {
			return leader
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no leader elected")
	return -1
}
