package limit

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"
)

func TestShardSize(t *testing.T) {
	if s := unsafe.Sizeof(rateShard{}); s != 64 {
		t.Errorf("rateShard is %d bytes, want 64", s)
	}
	if s := unsafe.Sizeof(counterShard{}); s != 64 {
		t.Errorf("counterShard is %d bytes, want 64", s)
	}
}

func TestRateBurstAndRefill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewRate(10, 3, 0) // a token every 100ms, bursts of 3
		for i := range 3 {
			if ok, _ := l.Allow("ip"); !ok {
				t.Fatalf("burst call %d denied", i)
			}
		}
		ok, retry := l.Allow("ip")
		if ok || retry != 100*time.Millisecond {
			t.Fatalf("4th call: %v, retry %v; want denied, retry 100ms", ok, retry)
		}
		// Other keys are independent.
		if ok, _ := l.Allow("other"); !ok {
			t.Fatal("other key denied")
		}
		time.Sleep(99 * time.Millisecond)
		if ok, retry := l.Allow("ip"); ok || retry != time.Millisecond {
			t.Fatalf("after 99ms: %v, retry %v; want denied, retry 1ms", ok, retry)
		}
		time.Sleep(time.Millisecond)
		if ok, _ := l.Allow("ip"); !ok {
			t.Fatal("after 100ms: denied")
		}
		if ok, _ := l.Allow("ip"); ok {
			t.Fatal("second call after one refill allowed")
		}
		// A long idle period refills to the burst, not beyond.
		time.Sleep(time.Hour)
		n := 0
		for {
			if ok, _ := l.Allow("ip"); !ok {
				break
			}
			n++
		}
		if n != 3 {
			t.Fatalf("after an hour idle %d calls allowed, want the burst of 3", n)
		}
	})
}

func TestRateSteadyState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewRate(50, 5, 0)
		allowed := 0
		for range 1000 { // 10 s of calls every 10ms (100/s offered)
			if ok, _ := l.Allow("k"); ok {
				allowed++
			}
			time.Sleep(10 * time.Millisecond)
		}
		if want := 5 + 50*10; allowed < want-2 || allowed > want {
			t.Fatalf("%d allowed over 10s at 50/s burst 5, want about %d", allowed, want)
		}
	})
}

func TestRateEvictsIdleKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewRate(1, 2, 0)
		for i := range 5000 {
			l.Allow("ip-" + strconv.Itoa(i))
		}
		if n := l.Len(); n != 5000 {
			t.Fatalf("%d keys tracked, want 5000", n)
		}
		time.Sleep(2 * time.Second) // every bucket refilled
		for i := range 5000 {
			l.Allow("new-" + strconv.Itoa(i))
		}
		// Each shard swept its refilled keys while the new ones came in.
		if n := l.Len(); n > 5000+5000/4 {
			t.Fatalf("%d keys tracked after the old ones went idle, want about 5000", n)
		}
	})
}

func TestRateMaxKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const maxKeys = 64 * numShards
		l := NewRate(1, 1, maxKeys)
		for i := range 100 * maxKeys {
			if ok, _ := l.Allow(strconv.Itoa(i)); !ok {
				t.Fatalf("fresh key %d denied", i)
			}
		}
		if n := l.Len(); n > maxKeys {
			t.Fatalf("%d keys tracked, want at most %d", n, maxKeys)
		}
		// A key that is being limited right now is still limited (it is the newest).
		l.Allow("hot")
		if ok, _ := l.Allow("hot"); ok {
			t.Fatal("hot key not limited")
		}
	})
}

func TestRateMapShrinks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewRate(1, 1, 0)
		for i := range 200_000 {
			l.Allow(strconv.Itoa(i))
		}
		time.Sleep(2 * time.Second)
		for i := range 10_000 {
			l.Allow("x" + strconv.Itoa(i))
		}
		for i := range l.shards {
			s := &l.shards[i]
			if s.peak > 2000 {
				t.Fatalf("shard %d: peak %d after the flood went idle; map not rebuilt", i, s.peak)
			}
		}
	})
}

func TestRateNilAndZero(t *testing.T) {
	var l *Rate
	if ok, _ := l.Allow("x"); !ok || l.Len() != 0 {
		t.Fatal("nil Rate limits")
	}
	if NewRate(0, 10, 0) != nil || NewRate(-1, 10, 0) != nil {
		t.Fatal("NewRate(<=0) is not nil")
	}
}

func TestRateConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewRate(1, 100, 0)
		var mu sync.Mutex
		allowed := map[string]int{}
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 1000 {
					key := fmt.Sprint((g + i) % 4)
					if ok, _ := l.Allow(key); ok {
						mu.Lock()
						allowed[key]++
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		for k, n := range allowed {
			if n != 100 {
				t.Errorf("key %s: %d allowed at once, want the burst of 100", k, n)
			}
		}
	})
}

func TestIPKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:1234", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:1234", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:1", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:1", "fe80::/64"},
		{"192.0.2.1", "192.0.2.1"},
		{"garbage", "garbage"},
	}
	for _, tt := range tests {
		if got := IPKey(tt.in); got != tt.want {
			t.Errorf("IPKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func BenchmarkRateAllow(b *testing.B) {
	l := NewRate(1e9, 1<<30, 0)
	b.ReportAllocs()
	for b.Loop() {
		l.Allow("192.0.2.1")
	}
}

func BenchmarkRateAllowManyKeys(b *testing.B) {
	l := NewRate(1e9, 1<<30, 0)
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = "192.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l.Allow(keys[i%len(keys)])
		i++
	}
}

func BenchmarkRateAllowParallel(b *testing.B) {
	l := NewRate(1e9, 1<<30, 0)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(keys[i%len(keys)])
			i++
		}
	})
}
