package launch

import (
	_ "embed"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pyhost/pyhost/host"
	"github.com/pyhost/pyhost/internal/cpython"
	"github.com/pyhost/pyhost/internal/dirfd"
)

// site's scan, answered on the other ranks from the root's answers.
//
// At start-up site asks the file system about the same few paths on every
// rank: whether pyvenv.cfg exists beside the executable, whether each
// sys.path entry and each candidate site directory exists, what each site
// directory holds (for its .pth files), each .pth file's bytes and whether
// the directories its lines name exist. The root asks them (siteAnswersFor,
// during the one collective of start-up, on its own file system) and
// broadcasts the answers; the other ranks answer site's calls for those
// paths from them (sitescan.py) while the main phase runs, and the file
// system for anything else. A path the root could not answer for all
// (node-local in a job over several nodes) is left out.

//go:embed sitescan.py
var siteScanSource string

// siteAnswers are the root's answers to site's questions.
type siteAnswers struct {
	Modes    map[string]int64    // path → st_mode (stat, following symlinks); -1 when stat failed
	Listings map[string][]string // directory → names, in the order the directory gives them
	Contents map[string][]byte   // .pth file → its bytes
}

// The largest .pth file answered from memory; bigger ones are read by
// each rank.
const maxPthBytes = 1 << 16

// siteAnswersFor asks what site will ask, for the configuration cfg.
// mayShare says whether a path's answer holds on every rank.
func siteAnswersFor(cfg cpython.Config, mayShare func(string) bool) siteAnswers {
	a := siteAnswers{Modes: map[string]int64{}, Listings: map[string][]string{}, Contents: map[string][]byte{}}
	stat := func(p string) int64 {
		if m, ok := a.Modes[p]; ok {
			return m
		}
		var m int64 = -1
		if st, err := os.Stat(p); err == nil {
			m = int64(modeBits(st))
		}
		if mayShare(p) {
			a.Modes[p] = m
		}
		return m
	}
	if cfg.Executable != "" && filepath.IsAbs(cfg.Executable) {
		exeDir := filepath.Dir(cfg.Executable)
		stat(filepath.Join(exeDir, "pyvenv.cfg"))
		stat(filepath.Join(filepath.Dir(exeDir), "pyvenv.cfg"))
	}
	for _, p := range cfg.ModuleSearchPaths {
		stat(p)
	}
	for _, dir := range siteDirCandidates(cfg) {
		if stat(dir)&0o170000 != 0o040000 || !mayShare(dir+"/.") { // the listing is of dir's own file system
			continue
		}
		// Never os.Open: its poller would leave descriptors Python sees
		// (internal/dirfd).
		fd, err := dirfd.OpenAt(unix.AT_FDCWD, dir)
		if err != nil {
			continue
		}
		f := os.NewFile(uintptr(fd), dir)
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil {
			continue
		}
		a.Listings[dir] = names
		for _, name := range names {
			if strings.HasSuffix(name, ".pth") {
				a.readPth(dir, name, stat)
			}
		}
	}
	return a
}

// readPth keeps the .pth file's bytes, when small and regular, and asks
// whether each directory its lines name exists, as site will.
func (a *siteAnswers) readPth(dir, name string, stat func(string) int64) {
	p := filepath.Join(dir, name)
	if stat(p)&0o170000 != 0o100000 {
		return
	}
	b, _, err := dirfd.ReadFile(p, 0, maxPthBytes+1)
	if err != nil || len(b) > maxPthBytes {
		return
	}
	if _, ok := a.Modes[p]; !ok {
		return // not shared: no contents either
	}
	a.Contents[p] = b
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "import ") ||
			strings.HasPrefix(line, "import\t") || strings.TrimSpace(line) == "" {
			continue
		}
		line = strings.TrimRight(line, " \t\r\n\v\f")
		if !filepath.IsAbs(line) {
			line = filepath.Join(dir, line)
		}
		stat(filepath.Clean(line)) // os.path.abspath's normalisation, nearly: a miss is only unanswered

	}
}

// modeBits is st_mode's file type and permission bits.
func modeBits(st os.FileInfo) uint32 {
	m := st.Mode()
	bits := uint32(m.Perm())
	switch {
	case m.IsDir():
		bits |= 0o040000
	case m.IsRegular():
		bits |= 0o100000
	case m&os.ModeSymlink != 0:
		bits |= 0o120000
	case m&os.ModeNamedPipe != 0:
		bits |= 0o010000
	case m&os.ModeSocket != 0:
		bits |= 0o140000
	case m&os.ModeCharDevice != 0:
		bits |= 0o020000
	case m&os.ModeDevice != 0:
		bits |= 0o060000
	}
	return bits
}

// siteDirCandidates are the directories site may add (Debian's
// getsitepackages for every prefix it may use, a venv's, the user's): a
// superset, since an answer the ranks never ask costs only the root's
// stat.
func siteDirCandidates(cfg cpython.Config) []string {
	ver := pythonMajorMinor()
	if ver == "" {
		return nil
	}
	prefixes := []string{cfg.Prefix, cfg.ExecPrefix, cfg.BasePrefix, cfg.BaseExecPrefix}
	if filepath.IsAbs(cfg.Executable) {
		prefixes = append(prefixes, filepath.Dir(filepath.Dir(cfg.Executable))) // a venv's
	}
	var dirs []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			dirs = append(dirs, p)
		}
	}
	for _, p := range prefixes {
		if p == "" {
			continue
		}
		add(filepath.Join(p, "lib", "python"+ver, "site-packages"))
		add(filepath.Join(p, "local/lib", "python"+ver, "dist-packages"))
		add(filepath.Join(p, "lib", "python3", "dist-packages"))
		add(filepath.Join(p, "lib", "python"+ver, "dist-packages"))
		add(filepath.Join(p, "lib64", "python"+ver, "dist-packages"))
	}
	if cfg.UserSiteDirectory {
		base := os.Getenv("PYTHONUSERBASE")
		if base == "" {
			if home := os.Getenv("HOME"); home != "" {
				base = filepath.Join(home, ".local")
			}
		}
		if filepath.IsAbs(base) {
			add(filepath.Join(base, "lib", "python"+ver, "site-packages"))
		}
	}
	return dirs
}

// pythonMajorMinor is "3.11" for the libpython linked.
func pythonMajorMinor() string {
	v := cpython.Version()
	if i := strings.IndexByte(v, '.'); i > 0 {
		if j := strings.IndexByte(v[i+1:], '.'); j > 0 {
			return v[:i+1+j]
		}
	}
	return ""
}

// answerSite installs site's answers (before the main phase); the
// returned function undoes it (after).
func answerSite(a siteAnswers) (undo func(), err error) {
	err = host.Attach(func(py *host.Py) error {
		builtins, err := py.Import("builtins")
		if err != nil {
			return err
		}
		defer builtins.Close()
		ns, err := py.FromGo(map[string]any{"__name__": "pyhost._sitescan", "__builtins__": builtins})
		if err != nil {
			return err
		}
		defer ns.Close()
		if err := py.ExecIn(ns, siteScanSource, "<pyhost sitescan>"); err != nil {
			return err
		}
		install, err := ns.GetItem("install")
		if err != nil {
			return err
		}
		defer install.Close()
		f, err := install.Call(a.Modes, a.Listings, a.Contents)
		if err != nil {
			return err
		}
		undo = func() {
			_ = host.Attach(func(py *host.Py) error {
				defer f.Close()
				r, err := f.Call()
				if err == nil {
					r.Close()
				}
				return err
			})
		}
		return nil
	})
	return undo, err
}
