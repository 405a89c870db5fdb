package launch

import "github.com/pyhost/pyhost/internal/cpython"

func hostConfig(exe string) cpython.Config { return cpython.Config{Executable: exe, Prefix: "/usr"} }
