package natsengine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/heraldpush/herald"
	"github.com/nats-io/nats.go/jetstream"
)

// stream is one retention class: a JetStream stream holding the history of every topic with
// that retention. Its creation time tells incarnations apart: heads cached for an older one
// are ignored.
type stream struct {
	class string
	name  string // JetStream stream name
	ret   herald.Retention
	hist  string // "P.h.C." stored subject prefix
	live  string // "P.l.C." live subject prefix

	mu      sync.RWMutex
	created int64            // creation time in Unix ns; 0 until created or read
	handle  jetstream.Stream // for message reads
}

// current returns the stream's creation time and a handle for message reads.
func (s *stream) current() (int64, jetstream.Stream) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.created, s.handle
}

// set records the stream's handle and creation time and reports whether the stream was
// recreated since it was last seen.
func (s *stream) set(h jetstream.Stream) bool {
	created := h.CachedInfo().Created.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := s.created != 0 && s.created != created
	s.created, s.handle = created, h
	return changed
}

// config returns the stream configuration of s.
func (e *Engine) config(s *stream) jetstream.StreamConfig {
	maxAge := time.Duration(0)
	if s.ret.TTL > 0 {
		maxAge = s.ret.TTL
	}
	dup := e.opts.Duplicates
	if maxAge > 0 && dup > maxAge {
		dup = maxAge // JetStream refuses a duplicate window longer than MaxAge
	}
	return jetstream.StreamConfig{
		Name:              s.name,
		Description:       "Herald topic history, retention class " + s.class,
		Subjects:          []string{s.hist + ">"},
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: int64(s.ret.Size),
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxAge:            maxAge,
		MaxMsgSize:        -1,
		Discard:           jetstream.DiscardOld,
		Storage:           e.opts.Storage,
		Replicas:          e.opts.Replicas,
		Duplicates:        dup,
		RePublish: &jetstream.RePublish{
			Source:      s.hist + ">",
			Destination: s.live + ">",
		},
	}
}

// streamFor returns the stream of topic t's retention class, creating it in JetStream when
// this engine has not used the class yet.
func (e *Engine) streamFor(ctx context.Context, t herald.Topic) (*stream, error) {
	return e.streamOf(ctx, e.opts.retention(t))
}

func (e *Engine) streamOf(ctx context.Context, r herald.Retention) (*stream, error) {
	class := className(r)
	e.mu.Lock()
	s, ok := e.streams[class]
	if !ok {
		s = &stream{
			class: class,
			name:  e.opts.Prefix + "_" + class,
			ret:   r,
			hist:  e.opts.Prefix + ".h." + class + ".",
			live:  e.opts.Prefix + ".l." + class + ".",
		}
		e.streams[class] = s
	}
	e.mu.Unlock()
	if created, _ := s.current(); created == 0 {
		if err := e.ensure(ctx, s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// ensure creates or updates s's stream and records its creation time.
func (e *Engine) ensure(ctx context.Context, s *stream) error {
	js, err := e.js.CreateOrUpdateStream(ctx, e.config(s))
	if err != nil {
		return unavailable(fmt.Errorf("natsengine: create or update stream %s: %w", s.name, err))
	}
	e.noteStream(s, js)
	return nil
}

// refresh rereads s's creation time, recreating the stream when it is gone.
func (e *Engine) refresh(ctx context.Context, s *stream) error {
	info, err := e.js.Stream(ctx, s.name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return e.ensure(ctx, s)
	}
	if err != nil {
		return unavailable(fmt.Errorf("natsengine: read stream %s: %w", s.name, err))
	}
	e.noteStream(s, info)
	return nil
}

// noteStream records s's handle; cached heads of an older incarnation are ignored from now
// on.
func (e *Engine) noteStream(s *stream, h jetstream.Stream) {
	if s.set(h) {
		e.log.Info("natsengine: stream was recreated", "stream", s.name)
	}
}

// refreshAll rereads every known stream (after a reconnect, and periodically).
func (e *Engine) refreshAll(ctx context.Context) error {
	e.mu.Lock()
	all := make([]*stream, 0, len(e.streams))
	for _, s := range e.streams {
		all = append(all, s)
	}
	e.mu.Unlock()
	var errs []error
	for _, s := range all {
		errs = append(errs, e.refresh(ctx, s))
	}
	return errors.Join(errs...)
}
