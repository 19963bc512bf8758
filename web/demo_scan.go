package web

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/wait"
)

// The demo scan mimics the seed's image-scan pipeline: vision → rule → answer → reward. Each
// step publishes a "processing" event when it starts and a "completed" event when it ends;
// the event name is the step's name. The answer step carries the result, and the reward
// step's completion is the topic's final event, which ends every subscriber's stream.

// scanStep is one stage of the fake pipeline and the progress it reports.
type scanStep struct {
	name        string
	start, done int // progress in percent when the step starts and when it completes
}

// scanSteps returns the pipeline in order.
func scanSteps() [4]scanStep {
	return [4]scanStep{
		{"vision", 5, 25},
		{"rule", 30, 50},
		{"answer", 55, 75},
		{"reward", 80, 100},
	}
}

// scanUpdate is the JSON data of a scan progress event.
type scanUpdate struct {
	Step     string      `json:"step"`
	Progress int         `json:"progress"`
	Status   string      `json:"status"` // processing, completed, failed, cancelled
	Result   *scanResult `json:"result,omitempty"`
	Reward   *scanReward `json:"reward,omitempty"`
	Final    bool        `json:"final,omitempty"`
}

// scanResult is the answer step's classification of the scanned item.
type scanResult struct {
	Item       string  `json:"item"`
	Category   string  `json:"category"`
	Disposal   string  `json:"disposal"`
	Confidence float64 `json:"confidence"`
}

// scanReward is what the reward step grants.
type scanReward struct {
	Points int `json:"points"`
}

// scanSamples are the items a demo scan can "recognise", by the name a request may ask for.
func scanSamples() map[string]scanResult {
	return map[string]scanResult{
		"bottle": {Item: "PET bottle", Category: "plastic", Disposal: "Rinse, remove the label and cap, flatten, recycle as plastic.", Confidence: 0.97},
		"can":    {Item: "Aluminium can", Category: "metal", Disposal: "Empty and rinse; recycle with cans and metals.", Confidence: 0.95},
		"box":    {Item: "Cardboard box", Category: "paper", Disposal: "Remove tape, flatten, keep dry; recycle as paper.", Confidence: 0.92},
	}
}

// scanRequest is the optional body of POST /demo/scan.
type scanRequest struct {
	// Sample picks the item the fake vision step "sees"; empty picks one at random.
	Sample string `json:"sample"`
}

// scanResponse answers POST /demo/scan.
type scanResponse struct {
	Topic string `json:"topic"`
	// ID is the id of the task's first event, already published.
	ID string `json:"id"`
}

// publishTimeout bounds one demo publish.
const publishTimeout = 5 * time.Second

// startScan handles POST /demo/scan: it publishes the task's first event before answering, so
// the topic exists and a publish failure is reported to the caller, then runs the rest of the
// pipeline in a goroutine.
func (h *Handler) startScan(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodPost) {
		return
	}
	var req scanRequest
	if !decodeBody(w, r, &req) {
		return
	}
	samples := scanSamples()
	if req.Sample == "" {
		names := []string{"bottle", "can", "box"}
		req.Sample = names[rand.IntN(len(names))]
	}
	result, ok := samples[req.Sample]
	if !ok {
		writeError(w, http.StatusBadRequest, "invalid_sample", `sample must be "bottle", "can", "box" or empty`)
		return
	}
	if h.publish == nil {
		writeError(w, http.StatusServiceUnavailable, "demo_disabled", "the demo has no publisher configured")
		return
	}
	release, err := h.acquireScan()
	if err != nil {
		if errors.Is(err, errClosed) {
			writeError(w, http.StatusServiceUnavailable, "shutting_down", "the server is shutting down")
		} else {
			writeError(w, http.StatusTooManyRequests, "too_many_scans", "too many demo scans are running; try again in a few seconds")
		}
		return
	}
	topic := herald.Topic("scan:" + randomID())
	steps := scanSteps()
	first := scanUpdate{Step: steps[0].name, Progress: steps[0].start, Status: "processing"}
	ctx, cancel := context.WithTimeout(r.Context(), publishTimeout)
	ev, err := h.publishUpdate(ctx, topic, first)
	cancel()
	if err != nil {
		release()
		h.log.WarnContext(r.Context(), "demo scan: publish failed", "topic", topic, "err", err)
		writeError(w, http.StatusServiceUnavailable, "publish_failed", "could not publish the scan's first event")
		return
	}
	go func() {
		defer release()
		h.runScan(topic, result)
	}()
	h.log.DebugContext(r.Context(), "demo scan started", "topic", topic)
	writeJSON(w, http.StatusAccepted, scanResponse{Topic: string(topic), ID: ev.ID()})
}

// acquireScan reserves a pipeline slot and registers the pipeline with Close; the returned
// func releases both.
func (h *Handler) acquireScan() (release func(), err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errClosed
	}
	select {
	case h.scans <- struct{}{}:
	default:
		return nil, errTooMany
	}
	h.wg.Add(1)
	return func() {
		<-h.scans
		h.wg.Done()
	}, nil
}

// runScan plays the pipeline after its first event. It stops early when the Handler closes,
// publishing a final "cancelled" event so that browsers stop waiting.
func (h *Handler) runScan(topic herald.Topic, result scanResult) {
	ctx := h.ctx
	steps := scanSteps()
	for i, st := range steps {
		if i > 0 {
			if !wait.Sleep(ctx, h.interval/8) {
				h.abortScan(topic, st, "cancelled")
				return
			}
			if _, err := h.publishUpdate(ctx, topic, scanUpdate{Step: st.name, Progress: st.start, Status: "processing"}); err != nil {
				h.scanPublishFailed(topic, st, err)
				return
			}
		}
		if !wait.Sleep(ctx, jitter(h.interval)) {
			h.abortScan(topic, st, "cancelled")
			return
		}
		u := scanUpdate{Step: st.name, Progress: st.done, Status: "completed"}
		switch st.name {
		case "answer":
			u.Result = &result
		case "reward":
			u.Reward = &scanReward{Points: 10 + rand.IntN(11)}
			u.Final = true
		}
		if _, err := h.publishUpdate(ctx, topic, u); err != nil {
			h.scanPublishFailed(topic, st, err)
			return
		}
	}
	h.log.Debug("demo scan finished", "topic", topic)
}

func (h *Handler) scanPublishFailed(topic herald.Topic, st scanStep, err error) {
	if h.ctx.Err() != nil {
		h.abortScan(topic, st, "cancelled")
		return
	}
	h.log.Warn("demo scan: publish failed", "topic", topic, "step", st.name, "err", err)
	h.abortScan(topic, st, "failed")
}

// abortScan publishes a final event with the given status on a short, uncancelled context
// (the Handler's own context is usually what ended the pipeline).
func (h *Handler) abortScan(topic herald.Topic, st scanStep, status string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(h.ctx), 2*time.Second)
	defer cancel()
	u := scanUpdate{Step: st.name, Progress: st.start, Status: status, Final: true}
	if _, err := h.publishUpdate(ctx, topic, u); err != nil {
		h.log.Debug("demo scan: could not publish the final event", "topic", topic, "status", status, "err", err)
	}
}

// publishUpdate publishes one scan event named after its step.
func (h *Handler) publishUpdate(ctx context.Context, topic herald.Topic, u scanUpdate) (herald.Event, error) {
	data, err := json.Marshal(u)
	if err != nil {
		return herald.Event{}, err
	}
	name, err := herald.ParseEventName(u.Step)
	if err != nil {
		return herald.Event{}, err
	}
	evs, err := h.publish(ctx, []herald.Message{{
		Topic:    topic,
		Name:     name,
		Data:     data,
		Final:    u.Final,
		SentTime: time.Now().UnixNano(),
	}})
	if err != nil {
		return herald.Event{}, err
	}
	if len(evs) != 1 {
		return herald.Event{}, errors.New("web: publisher returned no event")
	}
	return evs[0], nil
}

// jitter returns d ± 30%.
func jitter(d time.Duration) time.Duration {
	span := int64(d) * 6 / 10
	if span <= 0 {
		return d
	}
	return d - time.Duration(span/2) + time.Duration(rand.Int64N(span))
}

// randomID returns 16 lowercase hex digits from crypto/rand: unguessable task topics.
func randomID() string {
	var b [8]byte
	_, _ = cryptorand.Read(b[:]) // never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// errTooMany is returned when MaxScans pipelines are already running.
var errTooMany = errors.New("web: too many demo scans")
