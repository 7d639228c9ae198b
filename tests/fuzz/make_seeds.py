"""Seed corpora for the fuzz targets (scripts/fuzz.sh): small valid files of each kind, written
with the libraries that define the formats (safetensors, gguf, tokenizers), so the fuzzer starts
from inputs the parsers accept and mutates from there.

usage: make_seeds.py OUT_DIR   (writes OUT_DIR/<target>/seed_*)
"""
import io
import json
import os
import sys
import tempfile

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFWriter
from gguf.quants import quantize
from safetensors.numpy import save as save_safetensors
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers


def write(out, target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors_seeds(out):
    rng = np.random.default_rng(0)
    write(out, "safetensors", "seed_float", save_safetensors(
        {"a": rng.standard_normal((2, 3)).astype(np.float32),
         "b": rng.standard_normal((4,)).astype(np.float16)}, metadata={"format": "pt"}))
    write(out, "safetensors", "seed_ints", save_safetensors(
        {"i": np.arange(6, dtype=np.int64).reshape(2, 3), "m": np.array([True, False]),
         "d": np.ones((1, 1), dtype=np.float64)}))


def tiny_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["Hello, world! The quick brown fox jumps over the lazy dog. 12345"] * 4,
                            trainer)
    return tok


def tokenizer_seeds(out):
    tok = tiny_tokenizer()
    write(out, "tokenizer_json", "seed_bpe", tok.to_str() + "\n@@text@@\nHello, world! 123 <|endoftext|>")


def gguf_seeds(out):
    tok = json.loads(tiny_tokenizer().to_str())
    vocab = sorted(tok["model"]["vocab"].items(), key=lambda kv: kv[1])
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "seed.gguf")
        w = GGUFWriter(path, "llama")
        w.add_block_count(1)
        w.add_context_length(64)
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("smollm")
        w.add_token_list([t for t, _ in vocab])
        w.add_token_types([1] * len(vocab))
        w.add_token_merges(merges)
        w.add_bos_token_id(0)
        rng = np.random.default_rng(1)
        w.add_tensor("f32", rng.standard_normal((2, 32)).astype(np.float32))
        w.add_tensor("f16", rng.standard_normal((2, 32)).astype(np.float16))
        x = rng.standard_normal((2, 32)).astype(np.float32)
        for name, qt in (("q8_0", T.Q8_0), ("q4_0", T.Q4_0), ("q4_1", T.Q4_1)):
            w.add_tensor(name, quantize(x, qt), raw_dtype=qt)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        with open(path, "rb") as f:
            write(out, "gguf", "seed_tiny", f.read())


def gate_folder_seeds(out):
    rng = np.random.default_rng(2)
    hq, hkv, d_head, d = 4, 2, 8, 16
    tensors = {}
    for layer in range(2):
        tensors[f"model.layers.{layer}.self_attn.attn_gate.mask_linear_q.weight"] = \
            rng.standard_normal((hq, d_head, d)).astype(np.float32)
        tensors[f"model.layers.{layer}.self_attn.attn_gate.mask_linear_k.weight"] = \
            rng.standard_normal((hkv, 3 * d_head, d)).astype(np.float32)
    weights = save_safetensors(tensors, metadata={"format": "seer-gates"})
    rope = {"kind": "default", "theta": 10000.0, "factor": 1.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192,
            "max_position_embeddings": 8192, "truncate": True}
    ours = {"format": "seer-gates", "version": 1, "type": "Qavg_Kmaxminavg", "block_size": 64,
            "hidden_size": d, "seed": 0, "init_std": 0.02, "rope_dim": "hidden_size",
            "q_subblocks": 1, "base_model": "tiny", "num_layers": 2, "num_q_heads": hq,
            "num_kv_heads": hkv, "head_dim": d_head, "identity_q": False, "rope": rope}
    reference = {"seerattn_gate_type": "Qavg_Kmaxminavg", "seerattn_gate_block_size": 64,
                 "seerattn_gate_hidden_size": d, "seerattn_gate_force_double": False,
                 "base_model": "tiny", "num_hidden_layers": 2, "num_attention_heads": hq,
                 "num_key_value_heads": hkv, "head_dim": d_head}
    for name, cfg in (("seed_ours", ours), ("seed_reference", reference)):
        write(out, "gate_folder", name, json.dumps(cfg).encode() + b"\n@@weights@@\n" + weights)


def sample_file_seeds(out):
    rows = [{"input": "What is X?", "context": "X is 4. " * 5, "answers": ["4"], "length": 12,
             "dataset": "hotpotqa", "language": "en", "all_classes": None, "_id": "a1"},
            {"input": "Summarise.", "context": "Long text.", "answers": ["text"], "length": 2,
             "dataset": "gov_report", "language": "en", "all_classes": ["a", "b"], "_id": "b2"}]
    write(out, "sample_files", "seed_longbench", "\n".join(json.dumps(r) for r in rows) + "\n")
    squad = {"data": [{"title": "t", "paragraphs": [{"context": "Paris is in France.", "qas": [
        {"question": "Where is Paris?", "answers": [{"text": "France"}], "is_impossible": False}]}]}]}
    write(out, "sample_files", "seed_squad", json.dumps(squad))
    hotpot = [{"question": "Who?", "answer": "Ann",
               "context": [["Ann", ["Ann wrote it.", " She lives here."]], ["Bob", ["Bob reads."]]]}]
    write(out, "sample_files", "seed_hotpotqa", json.dumps(hotpot))


def config_seeds(out):
    write(out, "config", "seed_defaults", "defaults:\n  - model: tiny\n  - _self_\n"
          "train:\n  steps: 10\n  lr: 1.0e-3\n  tag: ${model.name}-${train.steps}\n"
          "sweep:\n  tau: [0.1, 0.2]\n  methods: {dense: {policy: dense}}\n"
          "home: ${env:HOME,/tmp}\n\n@@overrides@@\ntrain.steps=20\n+extra.key=[1, 2]\n"
          "~sweep.tau\n++model.layers=3\n")
    write(out, "config", "seed_plain", "a: 1\nb: {c: ${a}}\n\n@@overrides@@\nb.c=2\n")


if __name__ == "__main__":
    out = sys.argv[1]
    for make in (safetensors_seeds, tokenizer_seeds, gguf_seeds, gate_folder_seeds,
                 sample_file_seeds, config_seeds):
        make(out)
