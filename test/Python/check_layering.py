"""Checks the shape of the python/sattn package: which module imports which
(every `import` of a sattn module, at top level or inside a function), that
the graph has no cycle, that the only import inside a function is the
optional torch op, that no file under python/ exceeds 700 lines, and that
every module imports (torch blocked). Prints the modules layer by layer
(each imports only modules of earlier layers).

Usage: check_layering.py PYTHON_DIR
"""
import ast
import importlib
import os
import sys

root = sys.argv[1]
package = os.path.join(root, "sattn")
modules = sorted(n[:-3] for n in os.listdir(package) if n.endswith(".py"))
# The one import allowed inside a function: torch is optional, so the module
# that registers the custom op is imported when torch is first used.
LAZY_ALLOWED = {("kernel", "_torch_op")}


def sattn_imports(path):
    """{(imported module, at top level)} of one file's sattn imports."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    top = set(id(n) for n in tree.body)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module] if node.module else [a.name for a in node.names]
            for name in names:
                found.add((name.split(".")[0], id(node) in top))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sattn"):
            found.add((node.module.split(".")[1] if "." in node.module else "__init__",
                       id(node) in top))
    return found


graph, failures = {}, []
for m in modules:
    edges = sattn_imports(os.path.join(package, m + ".py"))
    graph[m] = {target for target, _ in edges if target != m}
    for target, at_top in edges:
        if not at_top and (m, target) not in LAZY_ALLOWED:
            failures.append("%s imports %s inside a function" % (m, target))

# Layers: a module goes in the first layer after all of its imports.
layers, placed = [], set()
remaining = [m for m in modules if m != "__init__"]
while remaining:
    layer = [m for m in remaining if graph[m] - {"__init__"} <= placed]
    if not layer:
        failures.append("import cycle among %s" % ", ".join(remaining))
        break
    layers.append(layer)
    placed.update(layer)
    remaining = [m for m in remaining if m not in layer]
for i, layer in enumerate(layers):
    print("layer %d: %s" % (i, " ".join(layer)))

for dirpath, _, files in os.walk(root):
    for name in files:
        if name.endswith(".py"):
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8") as f:
                lines = sum(1 for _ in f)
            if lines > 700:
                failures.append("%s has %d lines (at most 700)" % (path, lines))


import block_torch  # noqa: E402,F401  (torch cannot be imported from here on)

sys.path.insert(0, root)
for m in modules:
    if m in ("_torch_op", "__init__"):
        continue  # _torch_op needs torch (test/Runtime/torch-glue.test runs it)
    importlib.import_module("sattn." + m)
print("imported: %d modules without torch" % (len(modules) - 2))

for f in failures:
    print("FAILED:", f)
sys.exit(1 if failures else 0)
