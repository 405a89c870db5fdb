//go:build nompi || !cgo

package mpiglue

func SetMaxMessage(n int) (restore func()) { return func() {} }

func Loaded() bool { return false }
