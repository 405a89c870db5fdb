package frame_test

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pyhost/pyhost/internal/frame"
)

func sample() []byte {
	e := frame.NewEncoder("TEST", 3, 0)
	e.Uvarint(math.MaxUint64)
	e.Varint(-5)
	e.Byte(7)
	e.String("héllo")
	e.Bytes([]byte{0, 1, 2})
	e.Bytes(nil)
	return e.Finish()
}

func TestRoundTrip(t *testing.T) {
	for _, shared := range []bool{false, true} {
		d, err := frame.Open(sample(), "TEST", 3)
		if err != nil {
			t.Fatal(err)
		}
		if shared {
			d.ShareStrings()
		}
		u, v, c, s, b, empty := d.Uvarint("u"), d.Varint("v"), d.Byte("c"), d.String("s"), d.Bytes("b"), d.Bytes("empty")
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if u != math.MaxUint64 || v != -5 || c != 7 || s != "héllo" || string(b) != "\x00\x01\x02" || len(empty) != 0 {
			t.Errorf("shared=%v: got %d %d %d %q %q %q", shared, u, v, c, s, b, empty)
		}
	}
}

func TestDamageIsAnErrorNeverAPanic(t *testing.T) {
	good := sample()
	cases := map[string][]byte{
		"empty":     nil,
		"short":     good[:6],
		"truncated": good[:len(good)-1],
		"magic":     append([]byte("XEST"), good[4:]...),
		"version":   append(append([]byte("TEST"), 4), good[5:]...),
	}
	flipped := append([]byte(nil), good...)
	flipped[8] ^= 0x40
	cases["flipped"] = flipped
	for name, data := range cases {
		if _, err := frame.Open(data, "TEST", 3); !errors.Is(err, frame.ErrFormat) {
			t.Errorf("%s: Open = %v, want ErrFormat", name, err)
		}
	}
}

func TestReadsPastTheBodyStick(t *testing.T) {
	e := frame.NewEncoder("TEST", 1, 0)
	e.Uvarint(1 << 40) // a count or length the body cannot hold
	d, err := frame.Open(e.Finish(), "TEST", 1)
	if err != nil {
		t.Fatal(err)
	}
	if n := d.Count("count", 1); n != 0 || !errors.Is(d.Err(), frame.ErrFormat) {
		t.Fatalf("Count = %d, err %v", n, d.Err())
	}
	if s := d.String("s"); s != "" || d.Byte("b") != 0 {
		t.Fatal("reads after a failure must return zero values")
	}
}

func TestTrailingDataIsAnError(t *testing.T) {
	e := frame.NewEncoder("TEST", 1, 0)
	e.Uvarint(1)
	e.Uvarint(2)
	d, _ := frame.Open(e.Finish(), "TEST", 1)
	d.Uvarint("one")
	if err := d.Close(); !errors.Is(err, frame.ErrFormat) {
		t.Fatalf("Close = %v, want trailing-data error", err)
	}
}

func TestPaddedVarintIsRefused(t *testing.T) {
	e := frame.NewEncoder("TEST", 1, 0)
	e.Byte(0x81) // 1 written in two bytes
	e.Byte(0x00)
	d, _ := frame.Open(e.Finish(), "TEST", 1)
	if d.Uvarint("v"); !errors.Is(d.Err(), frame.ErrFormat) {
		t.Fatal("a padded varint was accepted")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(sample())
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := frame.Open(data, "TEST", 3)
		if err != nil {
			return
		}
		for i := 0; i < 64 && d.Err() == nil; i++ {
			switch i % 4 {
			case 0:
				d.Count("n", 1)
			case 1:
				d.String("s")
			case 2:
				d.Varint("v")
			case 3:
				d.Bytes("b")
			}
		}
		_ = d.Close()
	})
}

// A streamed frame is the frame built in memory, byte for byte, however
// its values fall across the pieces it is written in; what a decoder
// read (Mark, Since) goes back in unchanged with RawBytes.
func TestStreamedFrameIsTheFrame(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 100, 5000, 40000} {
		mem := frame.NewEncoder("TEST", 2, 0)
		var out bytes.Buffer
		st := frame.NewStreamEncoder(&out, "TEST", 2)
		for i := range n {
			switch i % 6 {
			case 0:
				v := rng.Uint64() >> rng.IntN(64)
				mem.Uvarint(v)
				st.Uvarint(v)
			case 1:
				v := rng.Int64() >> rng.IntN(64)
				mem.Varint(v)
				st.Varint(v)
			case 2:
				mem.Byte(byte(i))
				st.Byte(byte(i))
			case 3:
				s := strings.Repeat("x", rng.IntN(200))
				mem.String(s)
				st.String(s)
			case 4:
				b := bytes.Repeat([]byte{byte(i)}, rng.IntN(3000))
				mem.Bytes(b)
				st.Bytes(b)
			case 5:
				mem.Raw("raw")
				st.RawBytes([]byte("raw"))
			}
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		want := mem.Finish()
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("%d values: streamed %d bytes, in memory %d, not the same", n, out.Len(), len(want))
		}
	}
	d, err := frame.Open(sample(), "TEST", 3)
	if err != nil {
		t.Fatal(err)
	}
	d.Uvarint("u")
	mark := d.Mark()
	d.Varint("v")
	d.Byte("c")
	d.String("s")
	var out bytes.Buffer
	st := frame.NewStreamEncoder(&out, "TEST", 3)
	st.Uvarint(math.MaxUint64)
	st.RawBytes(d.Since(mark))
	st.Bytes([]byte{0, 1, 2})
	st.Bytes(nil)
	if err := st.Close(); err != nil || !bytes.Equal(out.Bytes(), sample()) {
		t.Fatalf("copied through Since: %v, %x, want %x", err, out.Bytes(), sample())
	}
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

// A write that fails is Close's error, whichever piece it hit.
func TestStreamedFrameWriteError(t *testing.T) {
	for _, room := range []int{0, 10, 40 << 10, 90 << 10, 100200} {
		st := frame.NewStreamEncoder(&failingWriter{n: room}, "TEST", 1)
		for range 100 {
			st.String(strings.Repeat("y", 1000))
		}
		if err := st.Close(); err == nil || err.Error() != "disk full" {
			t.Errorf("room for %d bytes: Close = %v, want disk full", room, err)
		}
	}
}
