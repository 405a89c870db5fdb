package launch

import (
	"reflect"
	"testing"
)

func TestStartFactsRoundTrip(t *testing.T) {
	f := startFacts{
		Paths: []byte("plan\x00\xff"),
		Site: siteAnswers{
			Modes:    map[string]int64{"/usr/lib/python3/dist-packages": 0o40755, "/nope\xff": -1},
			Listings: map[string][]string{"/usr/lib/python3/dist-packages": {"a.pth", "numpy"}, "/empty": {}},
			Contents: map[string][]byte{"/usr/lib/python3/dist-packages/a.pth": []byte("import x\n")},
		},
		Absent: []string{"/usr/lib/python311.zip"},
	}
	var g startFacts
	if err := g.unmarshal(f.marshal()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f, g) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", g, f)
	}
	var empty startFacts
	if err := empty.unmarshal((&startFacts{}).marshal()); err != nil || !reflect.DeepEqual(empty, startFacts{}) {
		t.Fatalf("empty facts: %v %#v", err, empty)
	}
	blob := f.marshal()
	for _, bad := range [][]byte{nil, blob[:len(blob)/2], append(append([]byte{}, blob[:len(blob)-1]...), blob[len(blob)-1]^1)} {
		h := startFacts{Absent: []string{"kept"}}
		if err := h.unmarshal(bad); err == nil {
			t.Fatalf("unmarshal of %d damaged bytes succeeded", len(bad))
		}
		if len(h.Absent) != 1 {
			t.Fatal("a failed unmarshal changed the facts")
		}
	}
}
