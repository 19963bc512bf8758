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

import (
	"hash/maphash"
	"net"
	"net/netip"
)

// numShards is the number of independently locked shards of each limiter.
const numShards = 32

// shardOf returns the shard index of key. The seed is per limiter, so a client cannot choose
// keys that all land in one shard.
func shardOf(seed maphash.Seed, key string) int {
	return int(maphash.String(seed, key) % numShards)
}

// shrinkAfter is the least peak size of a shard's map before it is considered for rebuilding.
const shrinkAfter = 1024

// IPKey returns the limiter key for a client address in net/http's RemoteAddr form
// ("host:port"): the IPv4 address, or the /64 prefix of an IPv6 address (one subscriber line
// usually owns a whole /64, so per-address limits would be trivial to dodge). IPv4-mapped
// IPv6 addresses count as IPv4. An address that cannot be parsed is its own key.
func IPKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return remoteAddr
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return addr.String()
	}
	p, _ := addr.Prefix(64)
	return p.String()
}
