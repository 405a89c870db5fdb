"""Compares two runs of CPython's regression suite case by case.

    suite-compare.py [--strict] BASE OTHER

BASE and OTHER are path prefixes: PREFIX.xml is regrtest's --junit-xml
output and PREFIX.log its console output. A case's outcome is the last one
recorded for it (regrtest -w re-runs failed cases and appends their new
results). Prints the cases that pass under BASE and not under OTHER (a
skip or a missing result counts as not passing), the cases failing under
both, and test modules whose regrtest verdict differs. Exits 1 if a case
regressed or, with --strict, if any case's or module's outcome differs.
"""

import re
import sys
import xml.etree.ElementTree as ET

PASSING = {"pass", "xfail"}


def outcome(case):
    for tag, name in (("error", "error"), ("failure", "fail"),
                      ("skipped", "skip"), ("output", "xfail"),
                      ("outcome", "xpass")):
        if case.find(tag) is not None:
            return name
    return "pass"


def cases(prefix):
    """Maps a case id to (outcome, first line of the message)."""
    result = {}
    for case in ET.parse(prefix + ".xml").iter("testcase"):
        kind = outcome(case)
        detail = ""
        for tag in ("error", "failure", "skipped"):
            e = case.find(tag)
            if e is not None:
                text = e.get("message") or e.text or ""
                lines = [l for l in text.strip().splitlines() if l.strip()]
                detail = lines[-1].strip() if lines else ""
        result[case.get("name")] = (kind, detail)
    return result


def modules(prefix):
    """Maps a test module to regrtest's final verdict in the log."""
    with open(prefix + ".log", errors="replace") as f:
        text = f.read()
    blocks = text.split("== Tests result: ")
    if len(blocks) < 2:
        return {}
    verdict = {}
    section = None
    headers = [("failed", re.compile(r"^\d+ tests? failed( again)?:$")),
               ("env changed", re.compile(r"altered the execution environment:$")),
               ("skipped", re.compile(r"^\d+ tests? skipped:$")),
               ("omitted", re.compile(r"^\d+ tests? omitted:$")),
               ("no tests", re.compile(r"^\d+ tests? run no tests:$")),
               (None, re.compile(r"^\d+ re-run tests?:$|^Total duration|^Tests result"))]
    for line in blocks[-1].splitlines()[1:]:
        for name, pattern in headers:
            if pattern.search(line.strip()):
                section = name
                break
        else:
            if section and line.startswith("    "):
                for m in line.split():
                    verdict[m] = section
            elif line.strip():
                section = None
    return verdict


def main(argv):
    strict = "--strict" in argv
    argv = [a for a in argv if a != "--strict"]
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    base_prefix, other_prefix = argv
    base_name = base_prefix.rsplit("/", 1)[-1]
    other_name = other_prefix.rsplit("/", 1)[-1]
    base, other = cases(base_prefix), cases(other_prefix)

    regressed, both_fail, differ = [], [], []
    for name in sorted(base.keys() | other.keys(), key=str):
        b = base.get(name, ("missing", ""))
        o = other.get(name, ("missing", ""))
        if b[0] in PASSING and o[0] not in PASSING:
            regressed.append((name, b, o))
        elif b[0] not in PASSING | {"skip", "missing"} and o[0] not in PASSING:
            both_fail.append((name, b, o))
        if b[0] != o[0]:
            differ.append((name, b, o))

    print(f"{other_name} vs {base_name}: {len(base.keys() & other.keys())} cases "
          f"in both, {len(base)} under {base_name}, {len(other)} under {other_name}")
    for title, rows in ((f"pass under {base_name}, not under {other_name}", regressed),
                        ("fail under both", both_fail)):
        print(f"\n{len(rows)} {title}:")
        for name, b, o in rows:
            print(f"  {name}: {b[0]} -> {o[0]}" + (f": {o[1][:160]}" if o[1] else ""))
    others = [r for r in differ if r not in regressed]
    if others:
        print(f"\n{len(others)} other differences (not a regression):")
        for name, b, o in others:
            print(f"  {name}: {b[0]} -> {o[0]}" + (f": {o[1][:160]}" if o[1] else ""))

    mb, mo = modules(base_prefix), modules(other_prefix)
    mdiff = sorted(m for m in mb.keys() | mo.keys() if mb.get(m) != mo.get(m))
    if mdiff:
        print(f"\n{len(mdiff)} test modules with a different verdict:")
        for m in mdiff:
            print(f"  {m}: {mb.get(m, 'ok')} -> {mo.get(m, 'ok')}")
    if regressed or (strict and (differ or mdiff)):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
