"""Walks docs/ADDING_A_PATTERN.md against the code.

The page lists every place a named pattern lives and, per pattern, its
spellings (spec name, PatternKind, op, mnemonic, node kinds and names). This
script checks both directions: every pattern of the code (PatternKind and
NodeKind enumerators, Mask_PatternOp definitions) is on the page, and every
pattern on the page is present in each place the page names, so that adding
a pattern and forgetting one place fails the suite.

Usage: check_adding_a_pattern.py SOURCE_ROOT
"""
import os
import re
import sys

root = sys.argv[1]


def read(path):
    with open(os.path.join(root, path), encoding="utf-8") as f:
        return f.read()


def enum_members(text, name):
    body = re.search(r"enum class %s[^{]*\{([^}]*)\}" % name, text).group(1)
    body = re.sub(r"//[^\n]*", "", body)
    return [m.split("=")[0].strip() for m in body.split(",") if m.strip()]


def table(doc, heading):
    """Rows (lists of cells) of the first table after `## heading`."""
    section = doc.split("## " + heading, 1)[1]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("## "):
            break
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows[1:]  # without the header


def names(cell):
    return [n.strip().strip("`") for n in cell.split(",") if n.strip()]


doc = read("docs/ADDING_A_PATTERN.md")
pattern_kinds = enum_members(read("include/sattn/Spec/PatternTable.h"), "PatternKind")
node_kinds = enum_members(read("include/sattn/Core/MaskProgram.h"), "NodeKind")
ops_td = read("dialects/Mask/IR/MaskOps.td")
pattern_ops = dict(re.findall(r'def Mask_(\w+Op) : Mask_PatternOp<"(\w+)"', ops_td))

files = {
    "table": read("lib/Spec/PatternTable.cpp"),
    "emitter": read("lib/Spec/Emitter.cpp"),
    "semantics": read("docs/MASK_SEMANTICS.md"),
    "expand": read("dialects/Mask/Transforms/ExpandMasks.cpp"),
    "program": read("lib/Core/MaskProgram.cpp"),
    "evaluator": read("lib/Analysis/CompiledMask.cpp"),
    "eval": read("lib/Core/MaskEval.cpp"),
    "planner": read("lib/Core/PlanTree.cpp"),
    "python": read("python/sattn/mask_program.py"),
}
problems = []


def need(ok, what):
    if not ok:
        problems.append(what)


def spec_row(spec, kind, dynamic):
    flag = "true" if dynamic else "false"
    pattern = r'\{"%s", PatternKind::%s, %s' % (re.escape(spec), kind, flag)
    need(re.search(pattern, files["table"]),
         "lib/Spec/PatternTable.cpp: no row {\"%s\", PatternKind::%s, %s" % (spec, kind, flag))


def emitted(kind, ops):
    need("case PatternKind::%s:" % kind in files["emitter"],
         "lib/Spec/Emitter.cpp: no case PatternKind::%s" % kind)
    for op in ops:
        need("mask::%s::create" % op in files["emitter"],
             "lib/Spec/Emitter.cpp: never creates mask::%s" % op)


static = table(doc, "Static patterns")
composite = table(doc, "Composite patterns")
dynamic = table(doc, "Dynamic patterns")
structural = names(doc.split("## Structural node kinds", 1)[1].split(":", 1)[1].strip().rstrip("."))

for spec, kind, op, mnemonic, nodes, node_names, expanded in static:
    for s in names(spec):
        spec_row(s, kind, False)
    emitted(kind, [op])
    need(pattern_ops.get(op) == mnemonic,
         "dialects/Mask/IR/MaskOps.td: no def Mask_%s : Mask_PatternOp<\"%s\">" % (op, mnemonic))
    need("`mask.%s" % mnemonic in files["semantics"],
         "docs/MASK_SEMANTICS.md: no definition of mask.%s" % mnemonic)
    is_expanded = expanded.startswith("yes")
    need((op in files["expand"]) == is_expanded,
         "dialects/Mask/Transforms/ExpandMasks.cpp: %s %s, the page says %s"
         % (op, "expanded" if op in files["expand"] else "not expanded", expanded))
    need(op in files["evaluator"], "lib/Analysis/CompiledMask.cpp: no %s" % op)
    for node in names(nodes):
        for key, path in (("evaluator", "lib/Analysis/CompiledMask.cpp"),
                          ("eval", "lib/Core/MaskEval.cpp"),
                          ("planner", "lib/Core/PlanTree.cpp")):
            need("NodeKind::%s" % node in files[key], "%s: no NodeKind::%s" % (path, node))
    for name in names(node_names):
        need('"%s"' % name in files["program"], 'lib/Core/MaskProgram.cpp: no name "%s"' % name)
        need('"%s"' % name in files["python"], 'python/sattn/mask_program.py: no "%s"' % name)

for spec, kind, ops in composite:
    spec_row(names(spec)[0], kind, False)
    emitted(kind, names(ops))

for spec, kind, op in dynamic:
    spec_row(names(spec)[0], kind, True)
    emitted(kind, [op])
    need(op in pattern_ops, "dialects/Mask/IR/MaskOps.td: no def Mask_%s" % op)

# The other direction: everything in the code is on the page.
listed_kinds = [r[1] for r in static + composite + dynamic]
for kind in pattern_kinds:
    need(kind in listed_kinds, "PatternKind::%s is not on the page" % kind)
listed_nodes = [n for r in static for n in names(r[4])] + structural
for node in node_kinds:
    need(node in listed_nodes, "NodeKind::%s is not on the page" % node)
listed_ops = [r[2] for r in static] + [r[2] for r in dynamic]
for op in pattern_ops:
    need(op in listed_ops, "Mask_%s (a Mask_PatternOp) is not on the page" % op)

if problems:
    print("docs/ADDING_A_PATTERN.md and the code disagree:")
    for p in problems:
        print("  " + p)
    sys.exit(1)
print("ok: %d static, %d composite, %d dynamic patterns, %d node kinds, in all their places"
      % (len(static), len(composite), len(dynamic), len(node_kinds)))
