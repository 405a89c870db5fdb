package launch

import "github.com/pyhost/pyhost/host"

func hostConfig(exe string) host.Config { return host.Config{Executable: exe, Prefix: "/usr"} }
