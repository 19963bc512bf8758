package presenceshare

import (
	"testing"

	"github.com/heraldpush/herald"
)

func TestPresenceShares(t *testing.T) {
	b, err := EncodeTopic(map[string]int{"": 2, "42": 1, "7": 3})
	if err != nil {
		t.Fatal(err)
	}
	var tp herald.TopicPresence
	if err := AddTopic(&tp, b); err != nil {
		t.Fatal(err)
	}
	if err := AddTopic(&tp, []byte(`{"42":2}`)); err != nil {
		t.Fatal(err)
	}
	if tp.Connections != 8 || tp.Users["42"] != 3 || tp.Users["7"] != 3 || len(tp.Users) != 2 {
		t.Fatalf("summed shares = %+v, want 8 connections, users 42:3 and 7:3 (anonymous not named)", tp)
	}
	if err := AddTopic(&tp, []byte(`{"42":`)); err == nil {
		t.Fatal("a malformed share was accepted")
	}
	if b, err := EncodeTopic(nil); b != nil || err != nil {
		t.Fatalf("empty topic share = %q, %v; want nil (remove)", b, err)
	}
	if EncodeUser(0) != nil {
		t.Fatal("a user share of 0 must encode as nil (remove)")
	}
	if n, err := ParseUser(EncodeUser(5)); n != 5 || err != nil {
		t.Fatalf("user share round trip = %d, %v; want 5", n, err)
	}
	if _, err := ParseUser([]byte("x")); err == nil {
		t.Fatal("a malformed user share was accepted")
	}
}
