package host

import (
	"fmt"
	"strings"

	"github.com/pyhost/pyhost/internal/cpython"
)

// signature is a Func's declared parameters (Func.Sig), parsed once at
// registration and checked on every call before Fn runs.
type signature struct {
	params    []param
	npos      int  // parameters that take a positional argument
	varArgs   bool // *args
	varKwargs bool // **kwargs
}

type param struct {
	name       string
	positional bool // may be passed by position
	keyword    bool // may be passed by keyword
	optional   bool // has a default
}

// parseSig parses a Python parameter list: "(a, b=1, /, c=None, *args,
// d, e=2, **kw)". Defaults and annotations are for inspect.signature
// only: Go code applies the defaults (see Param).
func parseSig(sig string) (*signature, error) {
	s := strings.TrimSpace(sig)
	if !strings.HasPrefix(s, "(") || !strings.HasSuffix(s, ")") {
		return nil, fmt.Errorf("signature %q: want a parenthesised parameter list", sig)
	}
	parts := splitTop(s[1 : len(s)-1])
	sg := &signature{}
	kwOnly := false
	seen := map[string]bool{}
	for i, part := range parts {
		p := strings.TrimSpace(part)
		switch {
		case p == "" && i == len(parts)-1 && i > 0: // a trailing comma
			continue
		case p == "/":
			for j := range sg.params {
				sg.params[j].keyword = false
			}
			continue
		case p == "*":
			kwOnly = true
			continue
		case strings.HasPrefix(p, "**"):
			sg.varKwargs = true
			continue
		case strings.HasPrefix(p, "*"):
			sg.varArgs, kwOnly = true, true
			continue
		}
		name, def, hasDef := strings.Cut(p, "=")
		name, _, _ = strings.Cut(name, ":") // an annotation
		name = strings.TrimSpace(name)
		if !isIdent(name) || seen[name] {
			return nil, fmt.Errorf("signature %q: bad or repeated parameter %q", sig, p)
		}
		seen[name] = true
		_ = def
		sg.params = append(sg.params, param{name: name, positional: !kwOnly, keyword: true, optional: hasDef})
		if !kwOnly {
			sg.npos++
		}
	}
	return sg, nil
}

// splitTop splits at the commas outside brackets and quotes.
func splitTop(s string) []string {
	var parts []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
		case c == ',' && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || i > 0 && '0' <= r && r <= '9' || r > 127) {
			return false
		}
	}
	return true
}

// bind checks a call's arguments against the signature as Python checks
// a def's, and returns for each parameter the argument bound to it
// (borrowed; NULL when not passed). The errors are TypeErrors worded as
// Python's, naming the function.
func (sg *signature) bind(qual string, a cpython.Args, slots []cpython.Ref) error {
	if len(a.Pos) > sg.npos && !sg.varArgs {
		return &RaiseError{Type: "TypeError", Msg: fmt.Sprintf("%s() takes %s but %d were given",
			qual, plural(sg.npos, "positional argument"), len(a.Pos))}
	}
	for i := 0; i < len(a.Pos) && i < sg.npos; i++ {
		slots[i] = a.Pos[i]
	}
	for i, v := range a.KwVals {
		name, err := goString(a.KwName(i))
		if err != nil {
			return err
		}
		j := sg.index(name)
		switch {
		case j < 0 && sg.varKwargs:
			continue
		case j < 0 || !sg.params[j].keyword:
			return &RaiseError{Type: "TypeError", Msg: fmt.Sprintf("%s() got an unexpected keyword argument '%s'", qual, name)}
		case !slots[j].IsNull():
			return &RaiseError{Type: "TypeError", Msg: fmt.Sprintf("%s() got multiple values for argument '%s'", qual, name)}
		}
		slots[j] = v
	}
	var missing []string
	for j, p := range sg.params {
		if slots[j].IsNull() && !p.optional {
			missing = append(missing, "'"+p.name+"'")
		}
	}
	if len(missing) > 0 {
		return &RaiseError{Type: "TypeError", Msg: fmt.Sprintf("%s() missing %s: %s",
			qual, plural(len(missing), "required argument"), strings.Join(missing, ", "))}
	}
	return nil
}

func (sg *signature) index(name string) int {
	for j, p := range sg.params {
		if p.name == name {
			return j
		}
	}
	return -1
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// textSignature is the docstring CPython reads a builtin's
// __text_signature__ from (inspect.signature): "name(sig)\n--\n\n" and
// the doc.
func textSignature(name, sig, doc string) string {
	return name + strings.TrimSpace(sig) + "\n--\n\n" + doc
}
