"""sattn: an ahead-of-time compiler for sparse attention (Python bindings).

This package is pure Python. `MaskProgram` evaluates a compiled mask program
(from `sattn-compile --emit=mask-program` or a kernel manifest) on NumPy or
PyTorch index arrays; it is the reference the GPU tests and users check
kernels against.
"""

from .mask_program import MaskProgram

__all__ = ["MaskProgram"]
