package cpython

import "reflect"

const (
	kOther = iota
	kInt
	kUint
	kFloat
)

func reflectKind(v any) int {
	switch reflect.TypeOf(v).Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return kInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return kUint
	case reflect.Float32, reflect.Float64:
		return kFloat
	}
	return kOther
}

func sizeOf(v any) int { return int(reflect.TypeOf(v).Size()) }
