package launch

import (
	"regexp"
	"strings"
	"sync"

	"github.com/pyhost/pyhost/internal/cpython"
	"github.com/pyhost/pyhost/internal/dirfd"
)

// A program new to its environment is predicted by what it names: the
// top-level packages its script (or -c command, or -m module) imports,
// which the root lists ahead for every rank (share.Roots.Named). A scan
// of the text, not a parse: an import in a string or under a condition
// names a package that may go unused, which costs a listing ahead, never
// a wrong answer (lookups still answer from the listings as they are).
const (
	maxScriptScan = 1 << 20 // bytes of a script scanned for its imports
	maxNamed      = 64      // top-level names taken from one program
)

// importPatterns are compiled at their first use (on the root, for a
// program new to its environment), not at every start.
type importPatterns struct{ importStmt, fromStmt, identifier *regexp.Regexp }

var patterns = sync.OnceValue(func() importPatterns {
	return importPatterns{
		importStmt: regexp.MustCompile(`(?m)^[ \t]*import[ \t]+([^\n#]+)`),
		fromStmt:   regexp.MustCompile(`(?m)^[ \t]*from[ \t]+([A-Za-z_][A-Za-z0-9_]*)`),
		identifier: regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`),
	}
})

// namedImports are the top-level names cfg's program imports, in order,
// once each: from the -m module's name, the -c command or the script's
// first maxScriptScan bytes (read on the root only).
func namedImports(cfg cpython.Config) []string {
	var text string
	switch {
	case cfg.RunModule != "":
		text = "import " + cfg.RunModule
	case cfg.RunCommand != "":
		text = cfg.RunCommand
	case cfg.RunFilename != "":
		b, _, err := dirfd.ReadFile(cfg.RunFilename, 0, maxScriptScan)
		if err != nil {
			return nil
		}
		text = string(b)
	}
	return importedNames(text)
}

// importedNames scans Python source for import statements' top-level
// names ("import a.b as c, d" names a and d; "from a.b import c" names a;
// relative imports name nothing).
func importedNames(text string) []string {
	text = strings.ReplaceAll(text, ";", "\n")
	p := patterns()
	var names []string
	seen := map[string]bool{}
	add := func(n string) {
		if n = strings.TrimSpace(n); p.identifier.MatchString(n) && !seen[n] && len(names) < maxNamed {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, m := range p.importStmt.FindAllStringSubmatch(text, -1) {
		for _, part := range strings.Split(strings.Trim(m[1], " \t()\\\r"), ",") {
			top, _, _ := strings.Cut(strings.TrimSpace(part), ".")
			top, _, _ = strings.Cut(top, " ")
			add(top)
		}
	}
	for _, m := range p.fromStmt.FindAllStringSubmatch(text, -1) {
		add(m[1])
	}
	return names
}
