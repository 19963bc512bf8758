package natsengine

import (
	"strconv"
	"strings"

	"github.com/heraldpush/herald"
)

// hdrMeta is the header that carries an event's fields other than its data, packed into
// one value so that every stored and republished message has one Herald header instead of
// six: each header costs allocations in every client that decodes the message, and the
// live feed decodes one message per delivered event.
//
//	Herald: 1 <epoch> <prev> <time> <sent> <final> <name>;
//
// 1 is the format version; epoch the topic's epoch ([0-9a-z]+, see internal/epoch); prev the
// subject's stream sequence the append was checked against (= Event.Prev); time the Unix ns
// at which the engine accepted the event and sent the publisher's own send time (0 when it
// gave none); final 1 on a topic's final event, else 0; name the event name, possibly
// empty. The closing ';' keeps spaces at the end of a name through header parsing, which
// trims values (event names hold no CR, LF or NUL).
const hdrMeta = "Herald"

// metaVersion is the first field of the meta header.
const metaVersion = "1"

// meta is the decoded meta header of a stored message.
type meta struct {
	epoch      string
	prev       uint64
	time, sent int64
	final      bool
	name       herald.EventName
}

// metaTail returns the part of a message's meta header that does not depend on the topic's
// head: " <time> <sent> <final> <name>;".
func metaTail(now, sent int64, final bool, name herald.EventName) string {
	b := make([]byte, 0, 2*maxUintLen+len(name)+8)
	b = append(b, ' ')
	b = strconv.AppendInt(b, now, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, sent, 10)
	if final {
		b = append(b, " 1 "...)
	} else {
		b = append(b, " 0 "...)
	}
	b = append(b, name...)
	b = append(b, ';')
	return string(b)
}

// metaValue returns the meta header of a message appended after the head epoch/prev, where
// tail is its metaTail.
func metaValue(epoch, prev, tail string) string {
	return metaVersion + " " + epoch + " " + prev + tail
}

// maxMetaHeadLen bounds the head-dependent part of a meta value: version, epoch, prev.
const maxMetaHeadLen = len(metaVersion) + 1 + maxEpochLen + 1 + maxUintLen

// parseMeta decodes a meta header value; ok is false when v is missing or malformed (a
// message that something other than Herald stored).
func parseMeta(v string) (m meta, ok bool) {
	ver, rest, ok1 := strings.Cut(v, " ")
	epoch, rest, ok2 := strings.Cut(rest, " ")
	prev, rest, ok3 := strings.Cut(rest, " ")
	tm, rest, ok4 := strings.Cut(rest, " ")
	sent, rest, ok5 := strings.Cut(rest, " ")
	final, name, ok6 := strings.Cut(rest, " ")
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || ver != metaVersion || !strings.HasSuffix(name, ";") {
		return meta{}, false
	}
	var err error
	if m.prev, err = strconv.ParseUint(prev, 10, 64); err != nil {
		return meta{}, false
	}
	if m.time, err = strconv.ParseInt(tm, 10, 64); err != nil {
		return meta{}, false
	}
	if m.sent, err = strconv.ParseInt(sent, 10, 64); err != nil {
		return meta{}, false
	}
	switch final {
	case "1":
		m.final = true
	case "0":
	default:
		return meta{}, false
	}
	m.epoch, m.name = epoch, herald.EventName(name[:len(name)-1])
	return m, true
}
