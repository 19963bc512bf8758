package redis

import (
	"strings"
)

// keys are the Redis keys and the Pub/Sub channel of one topic.
//
// Layout, for prefix P and topic T (see the package doc):
//
//	P:{E}      Pub/Sub channel of T's live events
//	P:{E}:m    hash: epoch, last (seq), closed ("1")
//	P:{E}:h    sorted set: encoded events scored by seq
//	P:{E}:d    sorted set: dedup keys scored by the seq they produced
//
// where E is T with '%', '{' and '}' percent-encoded (%25, %7B, %7D). E contains no brace,
// so the hash tag {E} is exactly the encoded topic and every key of T hashes to one Redis
// Cluster slot; percent-encoding is injective, so two topics never share keys.
type keys struct {
	channel, meta, hist, dedup string
}

func topicKeys(prefix, topic string) keys {
	base := prefix + ":{" + escapeTopic(topic) + "}"
	return keys{channel: base, meta: base + ":m", hist: base + ":h", dedup: base + ":d"}
}

var topicEscaper = strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D")

func escapeTopic(t string) string {
	if !strings.ContainsAny(t, "%{}") {
		return t
	}
	return topicEscaper.Replace(t)
}

var topicUnescaper = strings.NewReplacer("%25", "%", "%7B", "{", "%7D", "}")

// channelTopic returns the topic of a live channel, or false when channel is not one of
// prefix's topic channels.
func channelTopic(prefix, channel string) (string, bool) {
	if len(channel) < len(prefix)+4 || channel[:len(prefix)] != prefix ||
		channel[len(prefix):len(prefix)+2] != ":{" || channel[len(channel)-1] != '}' {
		return "", false
	}
	e := channel[len(prefix)+2 : len(channel)-1]
	if strings.ContainsAny(e, "{}") {
		return "", false
	}
	if !strings.Contains(e, "%") {
		return e, true
	}
	return topicUnescaper.Replace(e), true
}
