package server

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
)

// decodeSlow is the Decoder path of decodePublish, the reference decodeSingle must match.
func decodeSlow(b []byte) (publishBody, bool) {
	var pb publishBody
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pb); err != nil {
		return pb, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return pb, false
	}
	return pb, true
}

// FuzzDecodeSingle checks that whatever body the single-event fast path accepts, the
// Decoder accepts too, as one event with the same topic, name, data, final flag and send
// time. (What the fast path declines goes to the Decoder, so it needs no check.)
func FuzzDecodeSingle(f *testing.F) {
	for _, s := range []string{
		`{"topic":"a","event":"e","data":{"k":1}}`,
		`{"topic":"user:42","event":"tick","data":{"seq":1,"price":123.45,"sym":"HRLD"},"sent_time":1764864000000}`,
		` { "topic" : "a" , "data" : [1, {"x":"}"}, "\"]"] , "final" : true } ` + "\n",
		`{"topic":"a","data":"line1\nline2\u00e9"}`,
		`{"topic":"a","data":12.5e3,"final":false}`,
		`{"topic":"a","data":-0}`,
		`{"topic":"a","data":true}`,
		`{"topic":"a","data":null}`,
		`{"topic":"a","topic":"b"}`,
		`{"Topic":"a"}`,
		`{"topic":"a\u0062"}`,
		`{"topic":"ü"}`,
		`{"topic":"a","events":[]}`,
		`{"topic":"a","extra":1}`,
		`{"topic":"a","data":{"k":1}}{}`,
		`{"topic":"a","data":{"k":1}`,
		`{"topic":"a","data":{"k":1}}}`,
		`{"topic":"a","data":[1,2}`,
		`{"topic":"a","data":tru}`,
		`{"topic":"a","data":1 2}`,
		`{"topic":"a","final":truex}`,
		`{"topic":"a","sent_time":0123}`,
		`{"topic":"a","sent_time":"123"}`,
		`{"topic":"a","sent_time":1.5}`,
		`{"topic":"a",}`,
		`{}`,
		`[]`,
		``,
		`{"topic":"a"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		it, ok := decodeSingle(b)
		if !ok {
			return
		}
		pb, ok := decodeSlow(b)
		if !ok {
			t.Fatalf("fast path accepted %q, the Decoder did not", b)
		}
		want := pb.publishItem
		switch {
		case pb.Events != nil:
			t.Fatalf("fast path accepted a batch %q", b)
		case (it.Topic == nil) != (want.Topic == nil) || (it.Topic != nil && *it.Topic != *want.Topic):
			t.Fatalf("%q: topic %v, Decoder %v", b, it.Topic, want.Topic)
		case it.Event != want.Event || it.Final != want.Final || it.SentTime != want.SentTime:
			t.Fatalf("%q: event %q final %v sent %q, Decoder %q %v %q", b, it.Event, it.Final, it.SentTime, want.Event, want.Final, want.SentTime)
		case !bytes.Equal(it.Data, want.Data):
			t.Fatalf("%q: data %q, Decoder %q", b, it.Data, want.Data)
		}
	})
}

// TestDecodeSingleTakes checks that the fast path does take the shapes publishers send
// (the fuzz test checks only that what it takes is right).
func TestDecodeSingleTakes(t *testing.T) {
	for _, s := range []string{
		`{"topic":"a","event":"e","data":{"k":1}}`,
		`{"topic":"user:42","event":"tick","data":{"seq":1,"price":123.45,"sym":"HRLD"},"sent_time":1764864000000}`,
		` { "topic" : "a" , "data" : [1, {"x":"}"}, "\"]"] , "final" : true } ` + "\n",
		`{"topic":"a","data":"line1\nline2\u00e9"}`,
		`{"data":12.5e3,"final":false}`,
	} {
		if _, ok := decodeSingle([]byte(s)); !ok {
			t.Errorf("fast path declined %q", s)
		}
	}
}
