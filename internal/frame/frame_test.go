package frame_test

import (
	"errors"
	"math"
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
