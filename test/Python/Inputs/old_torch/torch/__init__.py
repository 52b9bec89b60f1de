"""A stand-in for a torch older than sattn supports (2.1: torch.library has
no custom_op), for test/Python/version-checks.test."""
import types

__version__ = "2.1.0"
library = types.SimpleNamespace(Library=object)
