"""`import block_torch` makes `import torch` fail from then on, even where
torch is installed, so that tests see sattn as it is on a machine without
torch (check_no_torch.py, check_layering.py)."""
import sys


class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked for this test")
        return None


sys.meta_path.insert(0, _NoTorch())
