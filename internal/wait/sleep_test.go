package wait

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

func TestSleep(t *testing.T) {
	tests := []struct {
		name   string
		d      time.Duration
		cancel time.Duration // cancel the context after this long; 0: never
		want   bool
		took   time.Duration
	}{
		{"elapses", time.Second, 0, true, time.Second},
		{"cancelled first", time.Minute, 2 * time.Second, false, 2 * time.Second},
		{"zero", 0, 0, true, 0},
		{"negative", -time.Second, 0, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				if tt.cancel > 0 {
					time.AfterFunc(tt.cancel, cancel)
				}
				start := time.Now()
				if got := Sleep(ctx, tt.d); got != tt.want {
					t.Errorf("Sleep = %v, want %v", got, tt.want)
				}
				if took := time.Since(start); took != tt.took {
					t.Errorf("took %v, want %v", took, tt.took)
				}
			})
		})
	}
}

func TestSleepEndedContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, 0) || Sleep(ctx, time.Hour) {
		t.Fatal("Sleep on an ended context reported true")
	}
}
