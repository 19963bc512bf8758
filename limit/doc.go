// Package limit holds the small keyed limiters Herald puts in front of its handlers: a
// token-bucket Rate (new connections per second per IP, publishes per second per key) and a
// concurrency Counter (connections per user, per IP).
//
// Both are sharded maps behind short mutexes, keyed by string, safe for concurrent use, and
// allocation-free on the hot path once a key exists. Memory stays bounded: a Rate forgets a
// key as soon as its bucket is full again (an idle key costs nothing) and holds at most
// MaxKeys entries, evicting the least recently limited of a few sampled entries when full; a
// Counter forgets a key when its count drops to zero. Maps that shrank are rebuilt, since Go
// maps never give memory back on delete.
//
// A nil *Rate or *Counter allows everything, so a limit configured as 0 needs no branches in
// the caller.
package limit
