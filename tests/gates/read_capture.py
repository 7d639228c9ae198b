"""Reads a Seer capture file with h5py and prints what capture_file_test compares:
   root <format> <model> <block_size>
   layer <sequence_id> <layer> <length> <complete> <G dtype> <sum G> <sum q_pooled>"""
import sys

import h5py
import numpy as np

with h5py.File(sys.argv[1], "r") as f:
    a = f.attrs
    print("root", a["format"], a["model"], int(a["block_size"]))
    for name, seq in sorted(f["sequences"].items()):
        for lname, layer in sorted(seq.items()):
            g = layer["G"][()]
            print("layer", seq.attrs["sequence_id"], int(layer.attrs["layer"]),
                  int(seq.attrs["length"]), int(seq.attrs["complete"]), g.dtype,
                  repr(float(g.astype(np.float64).sum())),
                  repr(float(layer["q_pooled"][()].astype(np.float64).sum())))
