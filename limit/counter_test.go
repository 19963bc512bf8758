package limit

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

func TestCounter(t *testing.T) {
	c := NewCounter(2)
	steps := []struct {
		op   string // "acquire" or "release"
		key  string
		want bool // for acquire
		n    int  // Count(key) afterwards
	}{
		{"acquire", "u1", true, 1},
		{"acquire", "u1", true, 2},
		{"acquire", "u1", false, 2},
		{"acquire", "u2", true, 1},
		{"release", "u1", false, 1},
		{"acquire", "u1", true, 2},
		{"release", "u1", false, 1},
		{"release", "u1", false, 0},
		{"release", "u1", false, 0}, // double release: no credit
		{"acquire", "u1", true, 1},
		{"acquire", "u1", true, 2},
		{"acquire", "u1", false, 2},
	}
	for i, s := range steps {
		if s.op == "acquire" {
			if got := c.Acquire(s.key); got != s.want {
				t.Fatalf("step %d: Acquire(%s) = %v, want %v", i, s.key, got, s.want)
			}
		} else {
			c.Release(s.key)
		}
		if n := c.Count(s.key); n != s.n {
			t.Fatalf("step %d: Count(%s) = %d, want %d", i, s.key, n, s.n)
		}
	}
}

func TestCounterForgetsReleasedKeys(t *testing.T) {
	c := NewCounter(1)
	for i := range 100_000 {
		c.Acquire(strconv.Itoa(i))
	}
	for i := range 100_000 {
		c.Release(strconv.Itoa(i))
	}
	if n := c.Len(); n != 0 {
		t.Fatalf("%d keys held after releasing all", n)
	}
	for i := range c.shards {
		if p := c.shards[i].peak; p >= shrinkAfter {
			t.Fatalf("shard %d: peak %d; map not rebuilt after shrinking", i, p)
		}
	}
}

func TestCounterConcurrent(t *testing.T) {
	const limit = 10
	c := NewCounter(limit)
	var held, maxHeld atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 2000 {
				if !c.Acquire("user") {
					continue
				}
				n := held.Add(1)
				for {
					m := maxHeld.Load()
					if n <= m || maxHeld.CompareAndSwap(m, n) {
						break
					}
				}
				held.Add(-1)
				c.Release("user")
			}
		})
	}
	wg.Wait()
	if m := maxHeld.Load(); m > limit {
		t.Fatalf("%d slots held at once, limit %d", m, limit)
	}
	if n := c.Count("user"); n != 0 {
		t.Fatalf("Count = %d after all released", n)
	}
}

func TestCounterNil(t *testing.T) {
	if NewCounter(0) != nil {
		t.Fatal("NewCounter(0) is not nil")
	}
	var c *Counter
	if !c.Acquire("x") || c.Count("x") != 0 || c.Len() != 0 {
		t.Fatal("nil Counter limits")
	}
	c.Release("x")
}

func BenchmarkCounter(b *testing.B) {
	c := NewCounter(1 << 30)
	c.Acquire("user-42") // keep the key alive so the loop measures the steady state
	b.ReportAllocs()
	for b.Loop() {
		c.Acquire("user-42")
		c.Release("user-42")
	}
}

func BenchmarkCounterParallel(b *testing.B) {
	c := NewCounter(1 << 30)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "user-" + strconv.Itoa(i)
		c.Acquire(keys[i])
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			k := keys[i%len(keys)]
			c.Acquire(k)
			c.Release(k)
			i++
		}
	})
}
