# Fails when an example spec has no test of the same name under examples/.
import os
import sys

examples_dir, tests_dir = sys.argv[1], sys.argv[2]
missing = [name for name in sorted(os.listdir(examples_dir))
           if name.endswith(".sattn") and not os.path.exists(
               os.path.join(tests_dir, name[:-len(".sattn")] + ".test"))]
if missing:
    print("examples without a test:", ", ".join(missing))
    sys.exit(1)
