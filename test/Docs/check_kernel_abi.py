"""Checks docs/KERNEL_ABI.md against the ABI table (include/sattn/Core/KernelAbi.h).

The parameter list of the GPU kernel section must name the table's fixed
parameters in the same order, followed by the table parameters; the table
prefix must be the one the header defines. The sm_90a section must list the
tensor map parameters of the header (kTensorMapParams) in order and state
the header's map size and box width. The backward kernel section must list
kBackwardParams in order, then the table parameters; the block maxima
section the outputs of kBlockMaxParams in order.

Usage: check_kernel_abi.py SOURCE_ROOT
"""
import os
import re
import sys

root = sys.argv[1]
header = open(os.path.join(root, "include/sattn/Core/KernelAbi.h"), encoding="utf-8").read()
doc = open(os.path.join(root, "docs/KERNEL_ABI.md"), encoding="utf-8").read()

table = re.findall(r'\{(\w+), "(\w+)", ParamKind::(\w+)\}', header)
names = [name for _, name, _ in table]
prefix = re.search(r'kTableParamPrefix = "(\w+)"', header).group(1)

section = doc.split("## GPU kernel", 1)[1]
block = section.split("```", 2)[1]
documented = []
tables_line = None
for line in block.splitlines():
    code = line.split("//", 1)[0].strip()
    if not code:
        continue
    if code.startswith(prefix):
        tables_line = code
        continue
    documented += [n.strip() for n in code.split(",") if n.strip()]

maps = re.findall(r'"(\w+)"', re.search(r'kTensorMapParams\[\] = \{([^}]*)\}', header).group(1))
constants = dict(re.findall(r'(kTensorMap\w+) = (\d+)', header))
hopper = doc.split('## sm_90a kernels (`"kernel": "wgmma"`)', 1)
hopper_maps = []
if len(hopper) == 2:
    for line in hopper[1].split("```", 2)[1].splitlines():
        code = line.split("//", 1)[0].strip()
        hopper_maps += [n.strip() for n in code.split(",") if n.strip()]

# The backward kernel's list (kBackwardParams), then its tables line.
backward_names = re.findall(r'"(\w+)"', re.search(r'kBackwardParams\[\] = \{([^}]*)\}',
                                                   header).group(1))
backward = doc.split("## Backward kernel", 1)
backward_documented, backward_tables = [], None
if len(backward) == 2:
    for line in backward[1].split("```", 2)[1].splitlines():
        code = line.split("//", 1)[0].strip()
        if code.startswith(prefix):
            backward_tables = code
        elif code:
            backward_documented += [n.strip() for n in code.split(",") if n.strip()]

# The block maxima section's two outputs (kBlockMaxParams).
block_max_names = re.findall(r'"(\w+)"', re.search(r'kBlockMaxParams\[\] = \{([^}]*)\}',
                                                    header).group(1))
block_max = doc.split("## Block maxima", 1)
block_max_documented = []
if len(block_max) == 2:
    for line in block_max[1].split("```", 2)[1].splitlines():
        code = line.split("//", 1)[0].strip()
        block_max_documented += [n.strip() for n in code.split(",") if n.strip()]

problems = []
if len(block_max) != 2:
    problems.append('no section "## Block maxima"')
elif block_max_documented != block_max_names:
    problems.append("block maxima parameters differ:\n  doc:    %s\n  header: %s"
                    % (block_max_documented, block_max_names))
if len(backward) != 2:
    problems.append('no section "## Backward kernel"')
elif backward_documented != backward_names:
    problems.append("backward parameters differ:\n  doc:    %s\n  header: %s"
                    % (backward_documented, backward_names))
elif not backward_tables or not backward_tables.startswith(prefix + "0"):
    problems.append("the backward section's table line must read '%s0 ... %s{n-1}'"
                    % (prefix, prefix))
if len(hopper) != 2:
    problems.append('no section "## sm_90a kernels (`"kernel": "wgmma"`)"')
elif hopper_maps != maps:
    problems.append("tensor map parameters differ:\n  doc:    %s\n  header: %s" % (hopper_maps, maps))
for name in ("kTensorMapBytes", "kTensorMapBoxColumns"):
    if "`%s` = %s" % (name, constants.get(name)) not in doc:
        problems.append("the sm_90a section must state `%s` = %s" % (name, constants.get(name)))
if documented != names:
    problems.append("fixed parameters differ:\n  doc:    %s\n  header: %s" % (documented, names))
if not tables_line or not tables_line.startswith(prefix + "0"):
    problems.append("the table parameters line must read '%s0 ... %s{n-1}'" % (prefix, prefix))
if problems:
    print("docs/KERNEL_ABI.md and include/sattn/Core/KernelAbi.h disagree:")
    for p in problems:
        print("  " + p)
    sys.exit(1)
print("ok: %d fixed parameters in order, then %s<i> per table, then %s for wgmma kernels"
      % (len(names), prefix, ", ".join(maps)))
print("ok: %d backward parameters in order, then %s<i> per table"
      % (len(backward_names), prefix))
print("ok: block_max kernels take %s after the tables" % ", ".join(block_max_names))
