package pathscan

// Changes during a run. FileFinder stats its directory at every lookup
// and reads it again when the mtime moved, so python3 sees a module
// deleted, a package created beside a same-named module, or a module
// written ahead of another on sys.path while the program runs. An Index
// told to (Options.Check) does the same for the directories Check
// accepts: at each use of such a directory's listing, one stat, and the
// directory is read again if it changed. Before a lookup first searched
// a directory, the whole identity is compared (device, inode, mtime and
// ctime: a mode changed since the Index listed it, to find the package
// it holds, is read anew, as FileFinder would first read it then); after,
// the mtime alone, as FileFinder compares.
//
// The directories Check rejects are trusted once listed (verified), as
// without Check: the Index is for the many directories of an installed
// environment, which do not change under a running program, and the
// launcher checks the others (see IsEnvironmentDir).

import "strings"

// checkWanted reports whether dir is checked at every use. Needs ix.mu.
func (ix *Index) checkWanted(dir string) bool {
	return ix.check != nil && ix.check(dir)
}

// isChecked is checkWanted for l's directory, asked once per listing
// (lookups ask it several times each). Needs ix.mu.
func (ix *Index) isChecked(l *listing) bool {
	if l.checkAsked == 0 {
		l.checkAsked = 2
		if ix.checkWanted(l.dir) {
			l.checkAsked = 1
		}
	}
	return l.checkAsked == 1
}

// Checked reports whether lookups in dir are checked at every use
// (Options.Check): what is served from elsewhere for a file there (a
// bytecode bundle) is to be checked as often.
func (ix *Index) Checked(dir string) bool { return ix.checkWanted(dir) }

// unchanged reports whether l still is its directory's listing, by one
// stat. Needs ix.mu.
func (ix *Index) unchanged(l *listing) bool {
	ix.stats.Checks++
	id, ok := statIdentity(l.dir)
	if !ok {
		// Still missing, as when listed: FileFinder's mtime is -1 both times.
		return l.mtime == -1 && l.state == stateMissing
	}
	if l.searched {
		// FileFinder's own check: the mtime alone. A directory swapped for
		// another with the same mtime keeps its listing, as FileFinder's
		// cache; what a lookup finds in it is stat'ed (resolve), as
		// FileFinder stats each file it finds.
		return l.mtime == id.mtime
	}
	return l.sameAs(id)
}

// IsEnvironmentDir reports whether dir lies in a Python installation's
// library tree: below a "lib/python3.N" or "lib/python3" directory (a
// prefix's standard library, site-packages and dist-packages, a venv's,
// the user's site directory), or below any "site-packages" or
// "dist-packages". Judged from the path as written.
func IsEnvironmentDir(dir string) bool {
	prev := ""
	for rest, more := dir, true; more; {
		var p string
		p, rest, more = strings.Cut(rest, "/")
		switch {
		case p == "site-packages" || p == "dist-packages":
			return true
		case (prev == "lib" || prev == "lib64") && isPythonDirName(p):
			return true
		}
		prev = p
	}
	return false
}

// isPythonDirName: "python3" or "python3.N".
func isPythonDirName(p string) bool {
	rest, ok := strings.CutPrefix(p, "python3")
	if !ok {
		return false
	}
	if rest == "" {
		return true
	}
	if len(rest) < 2 || rest[0] != '.' {
		return false
	}
	for _, c := range rest[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
