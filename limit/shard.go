package limit

// Keys and shards shared by Rate and Counter: the client-address key and the seeded shard
// choice.

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
