package web

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/heraldpush/herald"
)

// The demo raffle is the seed's broadcast case: every entry changes every entrant's chance of
// winning, and every viewer of the raffle sees the new odds at once. Each entry publishes an
// "odds" event with the whole state to the one topic RaffleTopic; all browsers subscribe to it.
//
// A round holds at most raffleMaxEntries tickets and raffleMaxEntrants names; the entry that
// would exceed either starts a new round, so a public demo's state stays small.
//
// The state lives in this Handler: on a cluster each node keeps its own raffle (the events
// still reach every node's subscribers through the engine). It is a demo, not a raffle service.

// RaffleTopic is the topic the demo raffle broadcasts on.
const RaffleTopic = "raffle:demo"

// RaffleEvent is the event name of a raffle update.
const RaffleEvent = "odds"

const (
	raffleMaxEntries  = 500
	raffleMaxEntrants = 50
	raffleNameMaxLen  = 24 // in characters
)

// raffle is the demo raffle's state, behind its lock.
type raffle struct {
	mu   sync.Mutex // held across the publish, so events and state change in the same order
	data raffleData
}

// raffleData is a value of the raffle's state; an entry builds the next one and commits it
// only once its event is published.
type raffleData struct {
	round    int
	tickets  map[string]int
	order    []string // entrants in order of their first entry
	entries  int
	last     string
	lastID   string // id of the latest published odds event
	guestSeq int
}

// clone returns a copy of d that shares nothing mutable with it.
func (d raffleData) clone() raffleData {
	c := d
	c.tickets = make(map[string]int, len(d.tickets)+1)
	for k, v := range d.tickets {
		c.tickets[k] = v
	}
	c.order = append([]string(nil), d.order...)
	return c
}

// raffleState is the JSON data of an odds event.
type raffleState struct {
	Round    int             `json:"round"`
	Entries  int             `json:"entries"`
	Prizes   int             `json:"prizes"`
	Entrants []raffleEntrant `json:"entrants"`
	// Last is the entrant whose entry produced this state.
	Last string `json:"last,omitempty"`
}

// raffleEntrant is one entrant's tickets and chance of winning the round's prize.
type raffleEntrant struct {
	Name    string  `json:"name"`
	Tickets int     `json:"tickets"`
	Odds    float64 `json:"odds"`
}

// raffleSnapshot answers GET /demo/raffle: the state and the id of the event that carried it,
// so a page can subscribe with lastEventID=<id> and miss nothing in between. ID is empty
// before the first entry (subscribe with lastEventID=earliest then).
type raffleSnapshot struct {
	ID string `json:"id"`
	raffleState
}

// raffleEntry is the optional body of POST /demo/raffle/enter.
type raffleEntry struct {
	// Name is the entrant; empty assigns a guest name, returned in the answer.
	Name string `json:"name"`
}

// raffleEntered answers POST /demo/raffle/enter.
type raffleEntered struct {
	ID   string  `json:"id"`
	Name string  `json:"name"`
	Odds float64 `json:"odds"`
	raffleState
}

// state returns d as the JSON data of an odds event.
func (d *raffleData) state() raffleState {
	s := raffleState{Round: max(d.round, 1), Entries: d.entries, Prizes: 1, Last: d.last, Entrants: []raffleEntrant{}}
	for _, name := range d.order {
		n := d.tickets[name]
		s.Entrants = append(s.Entrants, raffleEntrant{Name: name, Tickets: n, Odds: odds(n, d.entries)})
	}
	return s
}

// odds is the chance that one of n tickets out of total wins the single prize, rounded to
// four decimals.
func odds(n, total int) float64 {
	if total == 0 {
		return 0
	}
	return math.Round(float64(n)/float64(total)*1e4) / 1e4
}

// raffleState handles GET /demo/raffle.
func (h *Handler) raffleState(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	h.raffle.mu.Lock()
	snap := raffleSnapshot{ID: h.raffle.data.lastID, raffleState: h.raffle.data.state()}
	h.raffle.mu.Unlock()
	writeJSON(w, http.StatusOK, snap)
}

// enterRaffle handles POST /demo/raffle/enter: one more ticket for the entrant, and the new
// odds broadcast to every viewer.
func (h *Handler) enterRaffle(w http.ResponseWriter, r *http.Request) {
	if !allowMethods(w, r, http.MethodPost) {
		return
	}
	var req raffleEntry
	if !decodeBody(w, r, &req) {
		return
	}
	name, msg := cleanName(req.Name)
	if msg != "" {
		writeError(w, http.StatusBadRequest, "invalid_name", msg)
		return
	}
	if h.publish == nil {
		writeError(w, http.StatusServiceUnavailable, "demo_disabled", "the demo has no publisher configured")
		return
	}
	if h.ctx.Err() != nil {
		writeError(w, http.StatusServiceUnavailable, "shutting_down", "the server is shutting down")
		return
	}

	rf := &h.raffle
	rf.mu.Lock()
	defer rf.mu.Unlock()
	next := rf.data.clone()
	if name == "" {
		next.guestSeq++
		name = "Guest " + strconv.Itoa(next.guestSeq)
	}
	_, known := next.tickets[name]
	if next.round == 0 || next.entries >= raffleMaxEntries || (!known && len(next.order) >= raffleMaxEntrants) {
		next.round++
		next.tickets = make(map[string]int)
		next.order = nil
		next.entries = 0
		known = false
	}
	if !known {
		next.order = append(next.order, name)
	}
	next.tickets[name]++
	next.entries++
	next.last = name
	state := next.state()

	data, err := json.Marshal(state)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "could not encode the raffle state")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), publishTimeout)
	evs, err := h.publish(ctx, []herald.Message{{
		Topic:    RaffleTopic,
		Name:     RaffleEvent,
		Data:     data,
		SentTime: time.Now().UnixNano(),
	}})
	cancel()
	if err == nil && len(evs) != 1 {
		err = errors.New("web: publisher returned no event")
	}
	if err != nil {
		h.log.WarnContext(r.Context(), "demo raffle: publish failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "publish_failed", "could not publish the new odds")
		return
	}
	next.lastID = evs[0].ID()
	rf.data = next
	writeJSON(w, http.StatusOK, raffleEntered{
		ID:          next.lastID,
		Name:        name,
		Odds:        odds(next.tickets[name], next.entries),
		raffleState: state,
	})
}

// cleanName trims and validates an entrant name. It returns the name ("" when none was
// given) or a message saying what is wrong.
func cleanName(s string) (name, problem string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", ""
	}
	if !utf8.ValidString(s) {
		return "", "name is not valid UTF-8"
	}
	if n := utf8.RuneCountInString(s); n > raffleNameMaxLen {
		return "", "name is longer than " + strconv.Itoa(raffleNameMaxLen) + " characters"
	}
	for _, c := range s {
		if unicode.IsControl(c) || c == unicode.ReplacementChar {
			return "", "name contains control characters"
		}
	}
	return s, ""
}
