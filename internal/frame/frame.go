// Package frame is the one binary encoding pyhost writes, to files (the
// index cache) and in messages (the broadcasts between ranks):
//
//	magic    4 bytes, naming what the frame holds
//	version  1 byte
//	body     unsigned LEB128 varints, zigzag varints, bytes and
//	         length-prefixed strings, as the writer put them
//	crc32    4 bytes little endian, IEEE, over everything before it
//
// A frame is read whole: [Open] checks the header and the checksum before
// anything is decoded, and a [Decoder] never panics, never reads past the
// body, accepts one encoding per value (no padded varints) and refuses
// counts the remaining bytes cannot hold, so damaged or hostile data costs
// no more memory than its own length. The first failure sticks: later reads
// return zero values and [Decoder.Err] (or [Decoder.Close]) reports it,
// wrapping [ErrFormat].
//
// It must never hold anything machine-specific on its own; the callers
// decide what goes in.
package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"unsafe"
)

// ErrFormat is wrapped by every error about data that cannot be decoded.
var ErrFormat = errors.New("bad data")

// checksum is CRC-32 IEEE: hardware-accelerated as Castagnoli is, but
// ready in some 20 µs at its first use where Castagnoli's tables take a
// quarter of a millisecond to make, paid by every start that reads the
// cache.
func checksum(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

const (
	magicLen   = 4
	headerLen  = magicLen + 1
	trailerLen = 4
)

// An Encoder builds one frame: in memory, or written out as it grows
// (NewStreamEncoder).
type Encoder struct {
	b   []byte
	w   io.Writer // where a streamed frame goes; nil: built in memory
	crc uint32    // a streamed frame's checksum of what went to w
	err error     // a streamed frame's first write error
}

// streamBuf is what a streamed frame holds before it writes.
const streamBuf = 32 << 10

// NewStreamEncoder starts a frame that is written to w as it is encoded,
// in pieces of some 32 KB, and ended by Close: a frame of hundreds of
// kilobytes costs no buffer of its size (a fresh one is a page fault per
// 4 KB, about 10 µs each on a VM, once for the frame and once more for
// the copy a write of it makes).
func NewStreamEncoder(w io.Writer, magic string, version byte) *Encoder {
	e := NewEncoder(magic, version, streamBuf)
	e.w = w
	return e
}

// spill writes out a streamed frame's buffer once it is full.
func (e *Encoder) spill() {
	if e.w != nil && len(e.b) >= streamBuf {
		e.flush()
	}
}

func (e *Encoder) flush() {
	e.crc = crc32.Update(e.crc, crc32.IEEETable, e.b)
	if e.err == nil {
		_, e.err = e.w.Write(e.b)
	}
	e.b = e.b[:0]
}

// Close ends a streamed frame: it writes the rest and the checksum, and
// returns the first write error.
func (e *Encoder) Close() error {
	if e.w == nil {
		panic("frame: Close of a frame built in memory (use Finish)")
	}
	e.flush()
	e.b = binary.LittleEndian.AppendUint32(e.b, e.crc)
	if e.err == nil {
		_, e.err = e.w.Write(e.b)
	}
	e.b = nil
	return e.err
}

// NewEncoder starts a frame; sizeHint is the body's expected size.
func NewEncoder(magic string, version byte, sizeHint int) *Encoder {
	if len(magic) != magicLen {
		panic("frame: magic must be 4 bytes: " + magic)
	}
	b := make([]byte, 0, headerLen+sizeHint+trailerLen)
	b = append(b, magic...)
	return &Encoder{b: append(b, version)}
}

// NewEncoderIn starts a frame in buf's memory (from buf[0]): a frame
// that fits in cap(buf) is built there, one that does not moves to Go's
// heap as it grows.
func NewEncoderIn(magic string, version byte, buf []byte) *Encoder {
	if len(magic) != magicLen {
		panic("frame: magic must be 4 bytes: " + magic)
	}
	b := append(buf[:0], magic...)
	return &Encoder{b: append(b, version)}
}

// Len is the length of a frame built in memory so far, without its
// checksum.
func (e *Encoder) Len() int { return len(e.b) }

// Uvarint appends an unsigned varint.
func (e *Encoder) Uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v); e.spill() }

// Varint appends a zigzag varint.
func (e *Encoder) Varint(v int64) { e.b = binary.AppendVarint(e.b, v); e.spill() }

// Byte appends one byte.
func (e *Encoder) Byte(c byte) { e.b = append(e.b, c); e.spill() }

// String appends a length-prefixed string.
func (e *Encoder) String(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
	e.spill()
}

// Bytes appends a length-prefixed byte string.
func (e *Encoder) Bytes(p []byte) {
	e.b = binary.AppendUvarint(e.b, uint64(len(p)))
	e.b = append(e.b, p...)
	e.spill()
}

// Raw appends values already encoded: a span a Decoder returned.
func (e *Encoder) Raw(s string) { e.b = append(e.b, s...); e.spill() }

// RawBytes is Raw of a byte slice (a Decoder's Since).
func (e *Encoder) RawBytes(p []byte) { e.b = append(e.b, p...); e.spill() }

// Finish appends the checksum and returns the frame; the Encoder must not
// be used afterwards.
func (e *Encoder) Finish() []byte {
	if e.w != nil {
		panic("frame: Finish of a streamed frame (use Close)")
	}
	b := binary.LittleEndian.AppendUint32(e.b, checksum(e.b))
	e.b = nil
	return b
}

// A Decoder reads the body of one frame.
type Decoder struct {
	body   []byte
	pos    int    // next byte of body to read
	shared string // body as one string, once ShareStrings made it
	err    error
	tmp    [binary.MaxVarintLen64]byte
}

// Open checks data's magic, version and checksum and returns a Decoder of
// its body. Byte strings decoded alias data.
func Open(data []byte, magic string, version byte) (*Decoder, error) {
	if len(data) < headerLen+trailerLen {
		return nil, Errorf("%d bytes is too short", len(data))
	}
	if string(data[:magicLen]) != magic {
		return nil, Errorf("not a %q frame", magic)
	}
	if v := data[magicLen]; v != version {
		return nil, Errorf("version %d, want %d", v, version)
	}
	body, sum := data[:len(data)-trailerLen], binary.LittleEndian.Uint32(data[len(data)-trailerLen:])
	if checksum(body) != sum {
		return nil, Errorf("checksum mismatch")
	}
	return &Decoder{body: body[headerLen:]}, nil
}

// ShareStrings makes the strings decoded from now on share one copy of
// the body instead of one allocation each: for frames of many small
// strings that live as long as each other.
func (d *Decoder) ShareStrings() { d.shared = string(d.body) }

// ShareData is ShareStrings without the copy: the strings decoded alias
// the frame's data, which the caller must never modify afterwards.
func (d *Decoder) ShareData() {
	if len(d.body) > 0 {
		d.shared = unsafe.String(&d.body[0], len(d.body))
	}
}

// Errorf makes an error wrapping ErrFormat, for checks the caller makes on
// decoded values.
func Errorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// Err is the first failure, or nil.
func (d *Decoder) Err() error { return d.err }

// Close reports the first failure, or trailing bytes after the last read.
func (d *Decoder) Close() error {
	if n := len(d.body) - d.pos; d.err == nil && n != 0 {
		d.err = Errorf("%d bytes of trailing data", n)
	}
	return d.err
}

// Fail records a failure found by the caller (the first one sticks).
func (d *Decoder) Fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.pos = len(d.body)
}

func (d *Decoder) fail(what string) { d.Fail(Errorf("truncated or malformed %s", what)) }

func (d *Decoder) rest() []byte { return d.body[d.pos:] }

// Mark is the decoder's position, for Since.
func (d *Decoder) Mark() int { return d.pos }

// Since is what was read since mark, as it is encoded (aliasing the
// frame's data): values a caller writes again unchanged with
// Encoder.RawBytes.
func (d *Decoder) Since(mark int) []byte {
	if mark < 0 || mark > d.pos {
		return nil
	}
	return d.body[mark:d.pos:d.pos]
}

// Uvarint reads an unsigned varint; what names it in an error.
func (d *Decoder) Uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.rest())
	if n <= 0 || n != len(binary.AppendUvarint(d.tmp[:0], v)) { // one encoding per value
		d.fail(what)
		return 0
	}
	d.pos += n
	return v
}

// Varint reads a zigzag varint.
func (d *Decoder) Varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.rest())
	if n <= 0 || n != len(binary.AppendVarint(d.tmp[:0], v)) {
		d.fail(what)
		return 0
	}
	d.pos += n
	return v
}

// Byte reads one byte.
func (d *Decoder) Byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if d.pos == len(d.body) {
		d.fail(what)
		return 0
	}
	d.pos++
	return d.body[d.pos-1]
}

// Count reads a number of items each at least minSize bytes long, refusing
// counts the remaining data cannot hold.
func (d *Decoder) Count(what string, minSize int) uint64 {
	n := d.Uvarint(what)
	if d.err == nil && n > uint64((len(d.body)-d.pos)/minSize) {
		d.fail(what)
		return 0
	}
	return n
}

// span reads a length prefix and returns the bounds of what follows it.
func (d *Decoder) span(what string) (int, int, bool) {
	n := d.Uvarint(what)
	if d.err != nil {
		return 0, 0, false
	}
	if n > uint64(len(d.body)-d.pos) {
		d.fail(what)
		return 0, 0, false
	}
	start := d.pos
	d.pos += int(n)
	return start, d.pos, true
}

// String reads a length-prefixed string.
func (d *Decoder) String(what string) string {
	i, j, ok := d.span(what)
	switch {
	case !ok:
		return ""
	case d.shared != "":
		return d.shared[i:j]
	}
	return string(d.body[i:j])
}

// Skip reads the next n bytes undecoded (sharing the body when
// ShareStrings or ShareData is in effect), for a caller that decodes them
// later or writes them again as they are (Encoder.Raw).
func (d *Decoder) Skip(what string, n uint64) string {
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.body)-d.pos) {
		d.fail(what)
		return ""
	}
	i := d.pos
	d.pos += int(n)
	if d.shared != "" {
		return d.shared[i:d.pos]
	}
	return string(d.body[i:d.pos])
}

// Bytes reads a length-prefixed byte string, aliasing the frame's data.
func (d *Decoder) Bytes(what string) []byte {
	i, j, ok := d.span(what)
	if !ok {
		return nil
	}
	return d.body[i:j:j]
}
