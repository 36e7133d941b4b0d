#!/usr/bin/env python3
"""Documentation coverage from Swift symbol graphs.

usage: doc_coverage.py SYMBOL_GRAPH_DIR MODULE [MODULE ...]

Reads MODULE.symbols.json and MODULE@*.symbols.json (the module's extensions of other
modules' types) and lists every public or open symbol without a doc comment of its own.
Exit status 1 when there is any.

Ignored, and printed as ignored, by rule:
  - synthesized symbols (protocol extension defaults, compiler-derived members: the symbol
    graph marks them ::SYNTHESIZED:: or gives them no source location);
  - implementations of standard protocol requirements whose meaning the protocol documents,
    when the parent type conforms to that protocol (the table REQUIREMENTS below), e.g.
    `description` of CustomStringConvertible, `==`, `hash(into:)`, `init(rawValue:)` of
    RawRepresentable/OptionSet, `makeAsyncIterator()` of AsyncSequence.
A doc comment inherited from another module (the graph's docComment.module differs) does not
count as the symbol's own, but such symbols are always synthesized, so they fall under the
first rule.
"""

import glob
import json
import os
import sys

# protocol -> member names (last path component) that implement its requirements.
REQUIREMENTS = {
    "Swift.CustomStringConvertible": {"description"},
    "Swift.CustomDebugStringConvertible": {"debugDescription"},
    "Swift.LosslessStringConvertible": {"init(_:)"},
    "Swift.Equatable": {"==(_:_:)", "!=(_:_:)"},
    "Swift.Hashable": {"hash(into:)", "hashValue"},
    "Swift.Comparable": {"<(_:_:)", "<=(_:_:)", ">(_:_:)", ">=(_:_:)"},
    "Swift.Encodable": {"encode(to:)"},
    "Swift.Decodable": {"init(from:)"},
    "Swift.RawRepresentable": {"init(rawValue:)", "rawValue", "RawValue"},
    "Swift.OptionSet": {"init(rawValue:)", "rawValue", "Element"},
    "Swift.CaseIterable": {"allCases", "AllCases"},
    "Swift.Identifiable": {"ID"},
    "Swift.Sequence": {"makeIterator()", "Element", "Iterator"},
    "Swift.IteratorProtocol": {"next()", "Element"},
    "Swift.RandomNumberGenerator": {"next()"},
    "Swift.ExpressibleByStringLiteral": {"init(stringLiteral:)", "StringLiteralType"},
    "Swift.ExpressibleByExtendedGraphemeClusterLiteral": {"init(extendedGraphemeClusterLiteral:)"},
    "Swift.ExpressibleByUnicodeScalarLiteral": {"init(unicodeScalarLiteral:)"},
    "Swift.ExpressibleByIntegerLiteral": {"init(integerLiteral:)", "IntegerLiteralType"},
    "Swift.ExpressibleByArrayLiteral": {"init(arrayLiteral:)", "ArrayLiteralElement"},
    "_Concurrency.AsyncSequence": {"makeAsyncIterator()", "Element", "AsyncIterator", "Failure"},
    "_Concurrency.AsyncIteratorProtocol": {"next()", "next(isolation:)", "Element", "Failure"},
    "Foundation.LocalizedError": {"errorDescription", "failureReason", "recoverySuggestion", "helpAnchor"},
}

PUBLIC = {"public", "open"}


def own_doc(symbol, module):
    doc = symbol.get("docComment")
    if not doc:
        return False
    if doc.get("module", module) != module:
        return False
    return any(line.get("text", "").strip() for line in doc.get("lines", []))


def location(symbol):
    loc = symbol.get("location")
    if not loc:
        return None
    path = loc["uri"].removeprefix("file://")
    try:
        path = os.path.relpath(path)
    except ValueError:
        pass
    return f"{path}:{loc['position']['line'] + 1}"


def check(directory, module):
    files = [os.path.join(directory, f"{module}.symbols.json")]
    files += sorted(glob.glob(os.path.join(directory, f"{module}@*.symbols.json")))
    if not os.path.exists(files[0]):
        sys.exit(f"doc_coverage: {files[0]} not found")
    symbols, parent, conformances, names = {}, {}, {}, {}
    for path in files:
        with open(path) as f:
            graph = json.load(f)
        for s in graph["symbols"]:
            symbols[s["identifier"]["precise"]] = s
            names[s["identifier"]["precise"]] = ".".join(s["pathComponents"])
        for r in graph["relationships"]:
            if r["kind"] == "memberOf":
                parent[r["source"]] = r["target"]
            elif r["kind"] == "conformsTo":
                target = r.get("targetFallback") or names.get(r["target"], r["target"])
                if "." not in target:
                    target = f"{module}.{target}"
                conformances.setdefault(r["source"], set()).add(target)

    missing, ignored = [], []
    for pid, s in symbols.items():
        if s["accessLevel"] not in PUBLIC or own_doc(s, module):
            continue
        name = ".".join(s["pathComponents"])
        kind = s["kind"]["identifier"].removeprefix("swift.")
        where = location(s)
        if "::SYNTHESIZED::" in pid or where is None:
            ignored.append((f"{module}.{name}", kind, "synthesized"))
            continue
        member = s["pathComponents"][-1]
        protocols = conformances.get(parent.get(pid), set())
        rule = next((p for p in sorted(protocols) if member in REQUIREMENTS.get(p, ())), None)
        if rule:
            ignored.append((f"{module}.{name}", kind, f"implements {rule}"))
            continue
        missing.append((where, kind, f"{module}.{name}"))
    return missing, ignored


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    directory, modules = sys.argv[1], sys.argv[2:]
    missing, ignored = [], []
    for module in modules:
        m, i = check(directory, module)
        missing += m
        ignored += i
    print(f"doc coverage: ignored by rule ({len(ignored)}):")
    for name, kind, rule in sorted(ignored, key=lambda t: (t[2], t[0])):
        print(f"  {name} ({kind}): {rule}")
    if missing:
        print(f"doc coverage: {len(missing)} public symbol(s) without a doc comment:")
        def order(entry):
            path, _, line = entry[0].rpartition(":")
            return (path, int(line))

        for where, kind, name in sorted(missing, key=order):
            print(f"  {where}: {kind} {name}")
        return 1
    print(f"doc coverage: every public symbol of {', '.join(modules)} is documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
