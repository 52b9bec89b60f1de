"""sattn: an ahead-of-time compiler for sparse attention (Python side).

Pure Python; torch is imported only when a kernel runs on tensors.

    import sattn
    kernel = sattn.compile("examples/streaming.sattn")  # sattn-compile, cached
    o = kernel(q, k, v)                                  # CUDA tensors, current stream
    ref_o, ref_lse = sattn.reference(kernel, q, k, v)    # dense masked fp32

- `compile(spec, kernel=None, target=None, tile=None, warps=None, stages=None,
  cache=None, plans=None, backward=False)`: runs sattn-compile (found via $SATTN_COMPILE, build/bin of the
  source tree, PATH) unless the cache ($SATTN_CACHE_DIR, ~/.cache/sattn)
  already holds the result; a machine without the compiler uses a cache
  directory carried from one that has it.
- `__version__`: the sattn version (the compiler's and the runtime's too).
- `compile_all(spec, ...)`: {name: Kernel} for every kernel of a spec.
- `load(manifest_or_dir, kernel=None, plans=None)`: a kernel from
  sattn-compile's output. plans ("auto", "device", "host"): where calls
  build tile plans (`Kernel.plans`).
- `Kernel`: a compiled kernel; calling it runs the custom op
  ``torch.ops.sattn.attention``, which torch.compile traces as one op.
  Compiled with ``backward=True`` it is differentiable (autograd runs
  ``torch.ops.sattn.attention_backward``; `Kernel.backward`).
  Kernels with runtime tables plan on the GPU by default (CUDA graph
  capturable); `Kernel.plan(q, k, tables)` builds a `KernelPlan` to share
  across calls (``kernel(q, k, v, tables, plan=plan)``).
- `reference(spec_or_kernel, q, k, v, tables=None, scale=None)`: the dense
  masked reference on torch tensors or NumPy arrays.
- `MaskProgram`: evaluates a kernel's compiled mask on index arrays.
- `sattn.estimate`: the reference estimators of the dynamic masks
  (vertical-slash, block top-k, XAttention; docs/ESTIMATORS.md), whose
  outputs are the tables of each pattern's table form.
- `sattn.runtime`: the ctypes binding of libsattn_runtime (found via
  $SATTN_RUNTIME_LIB, the source tree's build, the package itself, next to
  the compiler; sattn._locate).

Modules, in layers that import only earlier layers (test/Python/layering.test):
_version, _locate, mask_program, _registry, _nsa; _capi; _backward, tables, estimate; runtime,
_dense, _torch_op (imported by kernel once torch is in use); _workspace_plans;
kernel; compiler; reference.
"""

import sys

from ._version import __version__

if sys.version_info < (3, 9):
    raise ImportError("sattn %s needs Python >= 3.9; this is Python %d.%d"
                      % ((__version__,) + tuple(sys.version_info[:2])))

from . import estimate  # noqa: E402
from .compiler import (CompilerUnavailableError, cache_dir, compile,  # noqa: E402
                       compile_all, find_compiler, load)
from .kernel import Kernel, KernelPlan  # noqa: E402
from .mask_program import MaskProgram  # noqa: E402
from .reference import reference  # noqa: E402

__all__ = ["CompilerUnavailableError", "Kernel", "KernelPlan", "MaskProgram", "__version__", "cache_dir",
           "compile", "compile_all", "find_compiler", "load", "reference"]
