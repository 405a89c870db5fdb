package host_test

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"testing"

	"github.com/pyhost/pyhost/host"
)

type kind int

// Go values to Python (checked by repr) and back (by ToGo).
func TestRoundTrip(t *testing.T) {
	two100, _ := new(big.Int).SetString("1267650600228229401496703205376", 10)
	answer := 42
	cases := []struct {
		name string
		in   any
		repr string
		back any // what ToGo gives; errBack: a *ConversionError
	}{
		{"nil", nil, "None", nil},
		{"true", true, "True", true},
		{"int", -7, "-7", int64(-7)},
		{"int8", int8(-128), "-128", int64(-128)},
		{"uint16", uint16(65535), "65535", int64(65535)},
		{"minint64", int64(math.MinInt64), "-9223372036854775808", int64(math.MinInt64)},
		{"maxuint64", uint64(math.MaxUint64), "18446744073709551615", errBack},
		{"named int", kind(3), "3", int64(3)},
		{"float", 1.5, "1.5", 1.5},
		{"float32", float32(0.25), "0.25", 0.25},
		{"inf", math.Inf(-1), "-inf", math.Inf(-1)},
		{"complex", complex(1, -2), "(1-2j)", complex(1, -2)},
		{"string", "héllo", "'héllo'", "héllo"},
		{"invalid utf-8", "a\xffb", `'a\udcffb'`, "a\xffb"},
		{"empty string", "", "''", ""},
		{"bytes", []byte{0, 'a', 0xff}, `b'\x00a\xff'`, []byte{0, 'a', 0xff}},
		{"byte array", [2]byte{1, 2}, `b'\x01\x02'`, []byte{1, 2}},
		{"big", two100, "1267650600228229401496703205376", errBack},
		{"negative big", new(big.Int).Neg(two100), "-1267650600228229401496703205376", errBack},
		{"small big", big.NewInt(5), "5", int64(5)},
		{"tuple", host.Tuple{1, "a", nil}, "(1, 'a', None)", []any{int64(1), "a", nil}},
		{"empty tuple", host.Tuple{}, "()", []any{}},
		{"[]any", []any{1, []any{2.5}}, "[1, [2.5]]", []any{int64(1), []any{2.5}}},
		{"[]int", []int{1, 2}, "[1, 2]", []any{int64(1), int64(2)}},
		{"[]string", []string{"x"}, "['x']", []any{"x"}},
		{"map[string]any", map[string]any{"k": []any{true}}, "{'k': [True]}", map[string]any{"k": []any{true}}},
		{"map[int]string", map[int]string{1: "one"}, "{1: 'one'}", map[any]any{int64(1): "one"}},
		{"pointer", &answer, "42", int64(42)},
		{"nil pointer", (*int)(nil), "None", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			do(t, func(py *host.Py) error {
				o, err := py.FromGo(c.in)
				if err != nil {
					t.Fatal(err)
				}
				defer o.Close()
				repr, _ := py.Eval("repr")
				defer repr.Close()
				r, err := repr.Call(o)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				if s, _ := r.AsString(); s != c.repr {
					t.Errorf("repr = %s, want %s", s, c.repr)
				}
				back, err := o.ToGo()
				if c.back == errBack {
					var ce *host.ConversionError
					if !errors.As(err, &ce) || !ce.Overflow {
						t.Errorf("ToGo = %v, %v; want an overflow *ConversionError", back, err)
					}
					return nil
				}
				if err != nil || !reflect.DeepEqual(back, c.back) {
					t.Errorf("ToGo = %#v, %v; want %#v", back, err, c.back)
				}
				return nil
			})
		})
	}
}

var errBack = &struct{ overflow bool }{}

func TestNumbers(t *testing.T) {
	do(t, func(py *host.Py) error {
		big70, _ := py.Eval("2**70")
		defer big70.Close()
		if _, err := big70.AsInt(); !isOverflow(err) {
			t.Errorf("AsInt(2**70): %v", err)
		}
		if b, err := big70.AsBigInt(); err != nil || b.String() != "1180591620717411303424" {
			t.Errorf("AsBigInt: %v, %v", b, err)
		}
		if b, err := host.As[*big.Int](big70); err != nil || b.BitLen() != 71 {
			t.Errorf("As[*big.Int]: %v, %v", b, err)
		}
		maxU, _ := py.Eval("2**64 - 1")
		defer maxU.Close()
		if u, err := maxU.AsUint64(); err != nil || u != math.MaxUint64 {
			t.Errorf("AsUint64: %v, %v", u, err)
		}
		neg, _ := py.Eval("-1")
		defer neg.Close()
		if _, err := neg.AsUint64(); !isOverflow(err) {
			t.Errorf("AsUint64(-1): %v", err)
		}
		if _, err := host.As[uint8](neg); !isOverflow(err) {
			t.Errorf("As[uint8](-1): %v", err)
		}
		v300, _ := py.Eval("300")
		defer v300.Close()
		if _, err := host.As[int8](v300); !isOverflow(err) {
			t.Errorf("As[int8](300): %v", err)
		}
		if n, err := host.As[int16](v300); n != 300 || err != nil {
			t.Errorf("As[int16](300): %v, %v", n, err)
		}
		if f, err := v300.AsFloat(); f != 300 || err != nil {
			t.Errorf("AsFloat(300): %v, %v", f, err)
		}
		huge, _ := py.Eval("10**400")
		defer huge.Close()
		if _, err := huge.AsFloat(); !isOverflow(err) {
			t.Errorf("AsFloat(10**400): %v", err)
		}
		tr, _ := py.Eval("True")
		defer tr.Close()
		if b, err := tr.AsBool(); !b || err != nil {
			t.Errorf("AsBool: %v %v", b, err)
		}
		if _, err := v300.AsBool(); !isConversion(err) {
			t.Errorf("AsBool(300): %v", err)
		}
		return nil
	})
}

func isOverflow(err error) bool {
	var ce *host.ConversionError
	return errors.As(err, &ce) && ce.Overflow
}

func isConversion(err error) bool {
	var ce *host.ConversionError
	return errors.As(err, &ce)
}

func TestAs(t *testing.T) {
	do(t, func(py *host.Py) error {
		o, err := py.Eval("{'a': [1, 2], 'b': (3,)}")
		if err != nil {
			return err
		}
		defer o.Close()
		m, err := host.As[map[string][]int](o)
		if err != nil || !reflect.DeepEqual(m, map[string][]int{"a": {1, 2}, "b": {3}}) {
			t.Errorf("As[map[string][]int] = %v, %v", m, err)
		}
		if _, err := host.As[map[string]string](o); !isConversion(err) {
			t.Errorf("As[map[string]string]: %v", err)
		}
		pair, _ := py.Eval("[1.5, 2]")
		defer pair.Close()
		if a, err := host.As[[2]float64](pair); err != nil || a != [2]float64{1.5, 2} {
			t.Errorf("As[[2]float64] = %v, %v", a, err)
		}
		if _, err := host.As[[3]float64](pair); !isConversion(err) {
			t.Errorf("As[[3]float64]: %v", err)
		}
		if p, err := host.As[*float64](pair); !isConversion(err) || p != nil {
			t.Errorf("As[*float64] of a list: %v, %v", p, err)
		}
		none, _ := py.Eval("None")
		defer none.Close()
		if p, err := host.As[*int](none); p != nil || err != nil {
			t.Errorf("As[*int](None) = %v, %v", p, err)
		}
		if s, err := host.As[[]string](none); s != nil || err != nil {
			t.Errorf("As[[]string](None) = %v, %v", s, err)
		}
		same, err := host.As[*host.Object](pair)
		if err != nil {
			return err
		}
		if same.String() != "[1.5, 2]" {
			t.Errorf("As[*Object] = %v", same)
		}
		same.Close()
		if v, err := host.As[any](pair); err != nil || !reflect.DeepEqual(v, []any{1.5, int64(2)}) {
			t.Errorf("As[any] = %v, %v", v, err)
		}
		if _, err := host.As[fmt.Stringer](pair); !isConversion(err) {
			t.Errorf("As[fmt.Stringer]: %v", err)
		}
		ba, _ := py.Eval("bytearray(b'xy')")
		defer ba.Close()
		if b, err := ba.AsBytes(); string(b) != "xy" || err != nil {
			t.Errorf("AsBytes(bytearray) = %q, %v", b, err)
		}
		return nil
	})
}

// What has no equivalent is an error, never a crash.
func TestUnconvertible(t *testing.T) {
	do(t, func(py *host.Py) error {
		type point struct{ X, Y int }
		for _, v := range []any{make(chan int), func() {}, point{1, 2}, []any{1, make(chan int)}, map[string]any{"f": func() {}}} {
			if o, err := py.FromGo(v); !isConversion(err) {
				t.Errorf("FromGo(%T) = %v, %v", v, o, err)
			}
		}
		cyclic := []any{nil}
		cyclic[0] = cyclic
		if _, err := py.FromGo(cyclic); !isConversion(err) {
			t.Errorf("FromGo(cyclic): %v", err)
		}
		for _, expr := range []string{"object()", "[1, object()]", "{1, 2}", "{(1, 2): 3}", "{'k': print}"} {
			o, err := py.Eval(expr)
			if err != nil {
				return err
			}
			if v, err := o.ToGo(); !isConversion(err) {
				t.Errorf("ToGo(%s) = %v, %v", expr, v, err)
			}
			o.Close()
		}
		execSrc(t, py, "cyc = []\ncyc.append(cyc)\ndcyc = {}\ndcyc['self'] = dcyc\n")
		for _, name := range []string{"cyc", "dcyc"} {
			o, _ := py.Eval(name)
			if _, err := o.ToGo(); !isConversion(err) {
				t.Errorf("ToGo(%s): %v", name, err)
			}
			if _, err := host.As[[]any](o); !isConversion(err) {
				t.Errorf("As(%s): %v", name, err)
			}
			o.Close()
		}
		execSrc(t, py, "del cyc, dcyc")
		s, _ := py.Eval("'text'")
		defer s.Close()
		if _, err := s.AsInt(); !isConversion(err) {
			t.Errorf("AsInt(str): %v", err)
		}
		if _, err := host.As[int](s); !isConversion(err) {
			t.Errorf("As[int](str): %v", err)
		}
		n, _ := py.Eval("1")
		defer n.Close()
		if _, err := n.AsString(); !isConversion(err) {
			t.Errorf("AsString(int): %v", err)
		}
		return nil
	})
}

// Arguments and results of Go functions called from Python.
func TestGoFunctionConversions(t *testing.T) {
	do(t, func(py *host.Py) error {
		execSrc(t, py, "import gotest")
		for expr, want := range map[string]any{
			"gotest.add(2, 3)":                      int64(5),
			"gotest.echo([1, 'a', b'b', None, {}])": []any{int64(1), "a", []byte("b"), nil, map[string]any{}},
			"gotest.echo(2**63 - 1)":                int64(math.MaxInt64),
			"gotest.kw(name='ada')":                 "ada",
			"gotest.kw(a=1, b=2)":                   []any{"a", "b"},
			"gotest.nop()":                          nil,
			"gotest.hold((1, 2.5))":                 []any{int64(1), 2.5},
			"gotest.nested_do('6 * 7')":             int64(42),
		} {
			if got := eval(t, py, expr); !reflect.DeepEqual(got, want) {
				t.Errorf("%s = %#v, want %#v", expr, got, want)
			}
		}
		if got := eval(t, py, "gotest.add.__doc__"); got != "add(a, b) -> int" {
			t.Errorf("doc = %v", got)
		}
		return nil
	})
}

func TestMapsGiveDictsInKeyOrder(t *testing.T) {
	// A Go map's order changes from run to run; a dict's order is seen
	// (repr, json.dumps): string keys come sorted.
	do(t, func(py *host.Py) error {
		m := map[string]any{}
		n := map[string]int{}
		for i := range 50 {
			m[fmt.Sprintf("k%02d", 49-i)] = i
			n[fmt.Sprintf("k%02d", i)] = i
		}
		for _, v := range []any{m, n} {
			o, err := py.FromGo(v)
			if err != nil {
				return err
			}
			keys, err := py.Eval("list")
			if err != nil {
				return err
			}
			l, err := keys.Call(o)
			if err != nil {
				return err
			}
			got, _ := l.ToGo()
			want := []any{}
			for i := range 50 {
				want = append(want, fmt.Sprintf("k%02d", i))
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("keys of %T: %v, want sorted", v, got)
			}
			l.Close()
			keys.Close()
			o.Close()
		}
		return nil
	})
}
