"""Prints `name heads in d sum` per tensor of a .safetensors file (gate_file_test cross-check)."""
import sys

from safetensors.numpy import load_file

for name, t in sorted(load_file(sys.argv[1]).items()):
    print(name, *t.shape, repr(float(t.astype("float64").sum())))
