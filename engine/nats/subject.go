package natsengine

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"time"

	"github.com/heraldpush/herald"
)

// Subject layout (P is Options.Prefix, C a retention class, K a topic key):
//
//	P.h.C.K   stored subject: the engine publishes here; stream P_C captures P.h.C.>
//	P.l.C.K   live subject: stream P_C republishes every stored message here
//
// The class C names a retention: "<size>_<ttl in ms>" (ttl "inf" for no age limit), e.g.
// "1000_3600000". Each class has its own stream, named "<P>_<C>", e.g. herald_1000_3600000,
// whose MaxMsgsPerSubject and MaxAge are that retention.
//
// The key K of a topic is its name in unpadded base64url (RFC 4648 §5, alphabet
// A-Z a-z 0-9 - _): a single subject token for any valid topic (1–255 printable ASCII bytes
// give 2–340 characters), one-to-one, so no two topics share a subject and no topic can
// contain '.', '*' or '>' in its subject. The topic "scan:abc/1.*" becomes
// "c2NhbjphYmMvMS4q".

// topicKey returns the subject token of t.
func topicKey(t herald.Topic) string { return base64.RawURLEncoding.EncodeToString([]byte(t)) }

// keyTopic inverts topicKey.
func keyTopic(k string) (herald.Topic, error) {
	b, err := base64.RawURLEncoding.DecodeString(k)
	if err != nil {
		return "", fmt.Errorf("natsengine: subject token %q is not a topic key: %w", k, err)
	}
	return herald.ParseTopic(string(b))
}

// className returns the class token of a normalized retention.
func className(r herald.Retention) string {
	ttl := "inf"
	if r.TTL > 0 {
		ttl = strconv.FormatInt(int64(r.TTL/time.Millisecond), 10)
	}
	return strconv.Itoa(r.Size) + "_" + ttl
}
