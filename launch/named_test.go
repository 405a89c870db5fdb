package launch

import (
	"reflect"
	"testing"
)

func TestImportedNames(t *testing.T) {
	for _, c := range []struct {
		text string
		want []string
	}{
		{"import numpy, scipy.special", []string{"numpy", "scipy"}},
		{"import numpy as np; from scipy.stats import norm", []string{"numpy", "scipy"}},
		{"def f():\n    import json.decoder as d  # late\n    from . import x\n", []string{"json"}},
		{"from .pkg import y\nfrom __future__ import annotations\n", []string{"__future__"}},
		{"x = 'not an import'\nimportlib = 1\n", nil},
		{"import a.b.c, d as e, f\nimport a\n", []string{"a", "d", "f"}},
		{"from mpi4py import MPI\r\nimport os\r\n", []string{"os", "mpi4py"}},
	} {
		if got := importedNames(c.text); !reflect.DeepEqual(got, c.want) {
			t.Errorf("importedNames(%q) = %q, want %q", c.text, got, c.want)
		}
	}
}
