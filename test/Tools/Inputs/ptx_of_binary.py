"""Prints the PTX held by the gpu.binary ops of an MLIR file.

gpu-module-to-binary{format=isa} stores each kernel's PTX as the
`assembly` string of a #gpu.object; MLIR prints it with \\XX hex escapes.
Usage: ptx_of_binary.py FILE.mlir
"""
import re
import sys

text = open(sys.argv[1], encoding="utf-8").read()
found = re.findall(r'assembly = "((?:[^"\\]|\\.)*)"', text)
if not found:
    sys.exit("no gpu.binary with assembly in " + sys.argv[1])
for escaped in found:
    out, i = bytearray(), 0
    while i < len(escaped):
        c = escaped[i]
        if c != "\\":
            out += c.encode()
            i += 1
        elif escaped[i + 1] in '"\\':
            out += escaped[i + 1].encode()
            i += 2
        elif escaped[i + 1] in "nt":
            out += b"\n" if escaped[i + 1] == "n" else b"\t"
            i += 2
        else:
            out.append(int(escaped[i + 1:i + 3], 16))
            i += 3
    sys.stdout.write(out.decode())
