"""Reference tokenisations from Hugging Face `tokenizers` for tokenizer_test.

Usage: tokenizer_reference.py GGUF_PATH OUT_DIR STRINGS_JSON
Builds byte-level BPE tokenizers from the GGUF file's vocabulary and merges (read with the PyPI
`gguf` package) with three pre-tokenizers and saves each as OUT_DIR/<variant>.tokenizer.json:
  smollm  Digits(individual) + ByteLevel(use_regex)   (SmolLM2's own tokenizer.json; llama.cpp
          pre-tokenizer 'smollm' is the same two regexes)
  llama3  Split(Llama-3 regex) + ByteLevel(no regex), ignore_merges
  qwen2   Split(Qwen2 regex) + ByteLevel(no regex)
Control tokens (token_type 3) become special added tokens. Then encodes every string of
STRINGS_JSON (a JSON list) without special-token post-processing and writes
OUT_DIR/<variant>.ids.json (a list of id lists).
"""
import json
import sys

from gguf import GGUFReader
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
          r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
         r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def field_strings(reader, key):
    f = reader.fields[key]
    return [bytes(f.parts[i]).decode("utf-8") for i in f.data]


def main():
    gguf_path, out_dir, strings_path = sys.argv[1:4]
    r = GGUFReader(gguf_path)
    tokens = field_strings(r, "tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in field_strings(r, "tokenizer.ggml.merges")]
    types = [int(r.fields["tokenizer.ggml.token_type"].parts[i][0])
             for i in r.fields["tokenizer.ggml.token_type"].data]
    vocab = {t: i for i, t in enumerate(tokens)}
    special = [tokens[i] for i, t in enumerate(types) if t == 3]
    with open(strings_path, encoding="utf-8") as f:
        strings = json.load(f)

    variants = {
        "smollm": (pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]), False),
        "llama3": (pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]), True),
        "qwen2": (pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]), False),
    }
    for name, (pre, ignore_merges) in variants.items():
        tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=ignore_merges))
        tok.pre_tokenizer = pre
        tok.decoder = decoders.ByteLevel()
        tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in special])
        tok.save(f"{out_dir}/{name}.tokenizer.json")
        ids = [e.ids for e in tok.encode_batch(strings, add_special_tokens=False)]
        with open(f"{out_dir}/{name}.ids.json", "w") as f:
            json.dump(ids, f)
    print(len(strings), "strings,", len(special), "special tokens")


if __name__ == "__main__":
    main()
