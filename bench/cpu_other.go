//go:build !unix

package bench

// selfCPU returns 0: the load generator reports its own CPU time on Unix only.
func selfCPU() float64 { return 0 }
