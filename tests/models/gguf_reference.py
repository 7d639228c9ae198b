"""Reference dequantisation from the PyPI `gguf` package for gguf_test.

Usage: gguf_reference.py OUT_DIR SEED [EMBEDDED_GGUF]
 - OUT_DIR/synthetic.gguf: one random tensor per supported type (F32, F16, BF16, Q8_0, Q4_0,
   Q4_1, Q4_K, Q6_K), odd row counts; quantised blocks are random bytes with finite fp16 scales.
 - OUT_DIR/synthetic_ref.safetensors: gguf.quants.dequantize of each, float32, torch shape.
 - OUT_DIR/embedded_ref.safetensors (when EMBEDDED_GGUF is given): a few tensors of each type the
   embedded model holds, dequantised the same way.
"""
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader, GGUFWriter
from gguf.quants import dequantize
from safetensors.numpy import save_file

# (type, block values, block bytes, byte offsets of fp16 scales inside a block)
QUANT = [(T.Q8_0, 32, 34, [0]), (T.Q4_0, 32, 18, [0]), (T.Q4_1, 32, 20, [0, 2]),
         (T.Q4_K, 256, 144, [0, 2]), (T.Q6_K, 256, 210, [208])]


def reference(path, names=None):
    out = {}
    for t in GGUFReader(path).tensors:
        if names is not None and t.name not in names:
            continue
        shape = [int(x) for x in reversed(t.shape)]
        out[t.name] = np.ascontiguousarray(dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape))
    return out


def main():
    out_dir, seed = sys.argv[1], int(sys.argv[2])
    rng = np.random.default_rng(seed)
    w = GGUFWriter(f"{out_dir}/synthetic.gguf", "llama")
    rows = int(rng.integers(3, 9))
    w.add_tensor("f32", rng.standard_normal((rows, 64)).astype(np.float32))
    w.add_tensor("f16", rng.standard_normal((rows, 64)).astype(np.float16))
    bf16 = (rng.standard_normal((rows, 64)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    w.add_tensor("bf16", bf16.view(np.uint8).reshape(rows, 128), raw_dtype=T.BF16)
    for qtype, n, nbytes, scale_offsets in QUANT:
        cols = 2 * 256
        blocks = rng.integers(0, 256, size=(rows, cols // n, nbytes), dtype=np.uint8)
        for off in scale_offsets:
            scales = (rng.standard_normal((rows, cols // n)) * 0.05).astype(np.float16)
            blocks[:, :, off:off + 2] = scales.view(np.uint8).reshape(rows, cols // n, 2)
        w.add_tensor(qtype.name.lower(), blocks.reshape(rows, -1), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    save_file(reference(f"{out_dir}/synthetic.gguf"), f"{out_dir}/synthetic_ref.safetensors")
    if len(sys.argv) > 3:
        names = {"token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
                 "blk.7.ffn_down.weight", "blk.29.ffn_gate.weight", "blk.3.attn_norm.weight",
                 "output_norm.weight"}
        save_file(reference(sys.argv[3], names), f"{out_dir}/embedded_ref.safetensors")
    print("ok")


if __name__ == "__main__":
    main()
