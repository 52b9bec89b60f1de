"""Runtime tables as sattn kernels take them, checked the way libsattn_runtime
checks them, with the same messages.

A kernel call gets its tables as a {name: table} dict or a sequence in
declaration order (`ordered`); the runtime then wants one int64 table per
declaration with the declared shape (`sattn_validate`) and values that fit
the declared element type (`sattn_plan_build`). `check` repeats those checks
in Python for `sattn.reference`, which runs without the runtime library, so
that a misspelled, missing, misshapen or float table fails there exactly as
the kernel call fails (test/Python/reference-tables.test compares the two).
"""

from ._capi import tagged_error
from .mask_program import table_extents

__all__ = ["check", "label", "ordered"]


def label(names, index):
    """How the binding names table `index` in its own messages."""
    return "table %d (%r)" % (index, names[index]) if index < len(names) else "table %d" % index


def ordered(kernel_name, names, tables):
    """The tables as a list in declaration order, from None (no tables), a
    sequence, or a {name: table} dict; unknown or missing names are a
    ValueError."""
    if tables is None:
        tables = {} if names else []
    if isinstance(tables, dict):
        unknown = [n for n in tables if n not in names]
        if unknown:
            raise tagged_error(ValueError, "TABLE", "kernel %r has no table(s) %s; its tables "
                               "are %s", kernel_name, ", ".join(unknown), list(names))
        missing = [n for n in names if n not in tables]
        if missing:
            raise tagged_error(ValueError, "TABLE", "kernel %r needs table(s) %s",
                               kernel_name, ", ".join(missing))
        return [tables[n] for n in names]
    return list(tables)


# The runtime's names of the float dtypes it knows (sattn_dtype).
_RUNTIME_FLOATS = {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}


def _dtype(table):
    """(is an integer or bool table, dtype name) of a torch tensor, a NumPy
    array or anything NumPy turns into one (nested lists)."""
    dt = getattr(table, "dtype", None)
    if dt is not None and type(table).__module__.startswith("torch"):
        name = str(dt).replace("torch.", "")
        return not (dt.is_floating_point or dt.is_complex), name
    import numpy
    dt = numpy.asarray(table).dtype
    return dt.kind in "biu", dt.name


def _check_one(index, spec, table, batch, heads, lk):
    name = 'table %d ("%s")' % (index, spec["name"])
    integral, dtype = _dtype(table)
    if not integral:
        if dtype in _RUNTIME_FLOATS:
            raise tagged_error(TypeError, "DTYPE", "%s has dtype %s, expected i64 (runtime tables "
                               "are int64 buffers whatever their declared element type)",
                               name, _RUNTIME_FLOATS[dtype])
        raise tagged_error(TypeError, "DTYPE", "table %d (%r) has dtype %s, which sattn kernels "
                           "do not take (bf16, f16, float32 for lse, int64 for tables and plans)",
                           index, spec["name"], dtype)
    shape = tuple(int(s) for s in (table.shape if hasattr(table, "shape") else _shape_of(table)))
    dims = spec["dims"]
    if len(shape) != len(dims):
        raise tagged_error(ValueError, "TABLE", "%s has rank %d, expected %d",
                           name, len(shape), len(dims))
    want = table_extents(dims, heads, batch, lk)
    for d, (got, expected) in enumerate(zip(shape, want)):
        if got != expected:
            raise tagged_error(ValueError, "TABLE", '%s dimension %d ("%s") is %d, expected %d',
                               name, d, str(dims[d]).replace(" ", ""), got, expected)


def _shape_of(table):
    import numpy
    return numpy.asarray(table).shape


def _check_values(spec, values):
    """The planner's check that values fit the declared element type (bool:
    0 or 1; 32-bit: int32), on a flat int64 array (NumPy or torch)."""
    if spec.get("bool"):
        lo, hi, width = 0, 1, 1
    elif spec.get("width") == 32:
        lo, hi, width = -(1 << 31), (1 << 31) - 1, 32
    else:
        return
    bad = (values < lo) | (values > hi)
    if bool(bad.any()):
        i = int(bad.nonzero()[0][0])
        raise tagged_error(ValueError, "TABLE", "sattn_plan_build: cannot build the plan: table "
                           "@%s value %d at flat index %d does not fit its element type i%d",
                           spec["name"], int(values[i]), i, width)


def check(kernel_name, specs, tables, batch, heads, lk, as_int64):
    """{name: int64 table} for `sattn.reference`, after the runtime's checks.

    specs: the mask program's table declarations ({"name", "dims", "bool",
    "width"}) in declaration order; tables: None, a sequence or a dict;
    as_int64: converts one table to an int64 array of the reference's kind.
    Raises ValueError / TypeError with the messages a kernel call gives.
    """
    names = [s["name"] for s in specs]
    tables = ordered(kernel_name, names, tables)
    if len(tables) != len(specs):
        raise tagged_error(ValueError, "TABLE", "kernel '%s' reads %d runtime table(s)%s, got %d",
                           kernel_name, len(specs), " (%s)" % ", ".join(names) if names else "",
                           len(tables))
    for i, (spec, table) in enumerate(zip(specs, tables)):
        _check_one(i, spec, table, batch, heads, lk)
    converted = {}
    for spec, table in zip(specs, tables):
        values = as_int64(table)
        _check_values(spec, values.reshape(-1))
        converted[spec["name"]] = values
    return converted
