#!/usr/bin/env python3
"""An independent reference for the built-in embedder (numpy only, float64).

Reads the same sentence-transformers directory as Parley's BertEncoder (config.json, vocab.txt,
model.safetensors parsed by hand, tokenizer_config.json, sentence_bert_config.json) and computes
BERT's forward pass the textbook way: one padded batch with an attention mask, separate Q/K/V
projections, exact-erf GELU, mean pooling over the mask, L2 normalisation.

    embed-reference.py MODEL_DIR INPUT.json OUTPUT.json
INPUT is {"texts": [...]}; OUTPUT gets {"tokens": [[ids]], "vectors": [[floats]]}.
"""
import json
import os
import struct
import sys
import unicodedata

# One BLAS thread: the tests run beside other work, where oversubscribed threads only slow down.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": "<f4", "F16": "<f2", "F64": "<f8"}
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] not in dtypes:
            continue
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(data[begin:end], dtype=dtypes[info["dtype"]]).reshape(info["shape"]).astype(np.float64)
    return out


class Tokenizer:
    def __init__(self, vocab_path, lower=True, strip_accents=None, cjk=True):
        with open(vocab_path, encoding="utf-8") as f:
            self.vocab = {}
            for i, line in enumerate(f.read().split("\n")):
                token = line.rstrip("\r")
                if token and token not in self.vocab:
                    self.vocab[token] = i
        self.lower = lower
        self.strip = lower if strip_accents is None else strip_accents
        self.cjk = cjk

    @staticmethod
    def is_cjk(cp):
        return any(a <= cp <= b for a, b in [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
                                             (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)])

    @staticmethod
    def is_punct(ch):
        cp = ord(ch)
        if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
            return True
        return unicodedata.category(ch).startswith("P")

    def basic(self, text):
        chars = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD:
                continue
            if ch in "\t\n\r" or unicodedata.category(ch) == "Zs" or ch == " ":
                chars.append(" ")
                continue
            if unicodedata.category(ch) in ("Cc", "Cf"):
                continue
            if self.cjk and self.is_cjk(cp):
                chars.extend([" ", ch, " "])
            else:
                chars.append(ch)
        words = []
        for word in "".join(chars).split():
            if self.lower:
                word = word.lower()
            if self.strip:
                word = "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")
            current = ""
            for ch in word:
                if self.is_punct(ch):
                    if current:
                        words.append(current)
                        current = ""
                    words.append(ch)
                else:
                    current += ch
            if current:
                words.append(current)
        return words

    def wordpiece(self, word):
        if len(word) > 100:
            return [self.vocab["[UNK]"]]
        pieces, start = [], 0
        while start < len(word):
            end, found = len(word), None
            while start < end:
                sub = ("##" if start > 0 else "") + word[start:end]
                if sub in self.vocab:
                    found = self.vocab[sub]
                    break
                end -= 1
            if found is None:
                return [self.vocab["[UNK]"]]
            pieces.append(found)
            start = end
        return pieces

    def encode(self, text, max_len):
        ids = [p for w in self.basic(text) for p in self.wordpiece(w)][: max_len - 2]
        return [self.vocab["[CLS]"]] + ids + [self.vocab["[SEP]"]]


def erf(x):
    # Numerical Recipes' erfc (Chebyshev fit, fractional error below 1.2e-7), in float64.
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (
        0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    erfc = t * np.exp(poly)
    return np.where(x >= 0, 1.0 - erfc, erfc - 1.0)


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def forward(W, config, tokens):
    """L2-normalised mean-pooled vectors for a padded batch of token id lists."""
    H, heads, eps = config["hidden_size"], config["num_attention_heads"], config["layer_norm_eps"]
    d = H // heads
    B, L = len(tokens), max(len(t) for t in tokens)
    ids = np.zeros((B, L), dtype=np.int64)
    mask = np.zeros((B, L))
    for i, t in enumerate(tokens):
        ids[i, : len(t)] = t
        mask[i, : len(t)] = 1
    x = W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][np.arange(L)][None] \
        + W["embeddings.token_type_embeddings.weight"][0][None, None]
    x = layer_norm(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"], eps)
    additive = (1.0 - mask)[:, None, None, :] * -1e30
    lin = lambda v, name: v @ W[name + ".weight"].T + W[name + ".bias"]
    split = lambda v: v.reshape(B, L, heads, d).transpose(0, 2, 1, 3)
    for layer in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{layer}."
        q, k, v = (split(lin(x, p + "attention.self." + n)) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d) + additive
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        probs = scores / scores.sum(-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(B, L, H)
        x = layer_norm(lin(context, p + "attention.output.dense") + x,
                       W[p + "attention.output.LayerNorm.weight"], W[p + "attention.output.LayerNorm.bias"], eps)
        inner = lin(x, p + "intermediate.dense")
        inner = inner * 0.5 * (1.0 + erf(inner / np.sqrt(2.0)))
        x = layer_norm(lin(inner, p + "output.dense") + x,
                       W[p + "output.LayerNorm.weight"], W[p + "output.LayerNorm.bias"], eps)
    pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
    vectors = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    return vectors


def main():
    model_dir, input_path, output_path = sys.argv[1:4]
    load = lambda name: json.load(open(os.path.join(model_dir, name))) if os.path.exists(os.path.join(model_dir, name)) else {}
    config = load("config.json")
    tok_config = load("tokenizer_config.json")
    st_config = load("sentence_bert_config.json")
    max_len = min(st_config.get("max_seq_length", tok_config.get("model_max_length", config["max_position_embeddings"])),
                  config["max_position_embeddings"])
    tokenizer = Tokenizer(os.path.join(model_dir, "vocab.txt"), tok_config.get("do_lower_case", True),
                          tok_config.get("strip_accents"), tok_config.get("tokenize_chinese_chars", True))
    W = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    if "embeddings.word_embeddings.weight" not in W:
        W = {k[5:]: v for k, v in W.items() if k.startswith("bert.")}
    texts = json.load(open(input_path))["texts"]
    tokens = [tokenizer.encode(t, max_len) for t in texts]

    # Texts of similar length share a padded batch (at most 4), masked like any BERT batch.
    order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))
    vectors = [None] * len(tokens)
    for start in range(0, len(order), 4):
        group = order[start:start + 4]
        for i, v in zip(group, forward(W, config, [tokens[i] for i in group])):
            vectors[i] = v.tolist()
    with open(output_path, "w") as f:
        json.dump({"tokens": tokens, "vectors": vectors}, f)


if __name__ == "__main__":
    main()
