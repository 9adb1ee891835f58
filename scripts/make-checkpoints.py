#!/usr/bin/env python3
"""Random-weight checkpoints of real model shapes, written both ways from the same arrays.

Tooling only (numpy + PyPI `safetensors` + PyPI `gguf`): independent writers of the two formats,
so tinyserve's SafeTensors import and its GGUF loader can be checked against each other, and
llama.cpp can check the GGUF.

For each preset, into the model cache (TINYSERVE_MODELS, default ~/.cache/tinyserve):
  hf-<preset>/config.json + model.safetensors (or shards + model.safetensors.index.json)
    in the Hugging Face layout: GPT-2's Conv1D weights [in, out], Llama's Q/K rows in the
    rotate-half order, Gemma's RMSNorm weights as w (the model uses 1 + w).
  <preset>.gguf in llama.cpp's layout, converted here the way its converter does (Conv1D
    transposed, Q/K rows permuted per head, Gemma norms stored as 1 + w), with the tokenizer
    metadata of a real vocabulary of that family so llama.cpp can load it.

Presets (layers trimmed where noted to keep CI's disk and time small; every matrix has the
real model's shape):
  gpt2-124m           GPT-2 small, all 12 layers, F32
  tinyllama-1.1b-l4   TinyLlama 1.1B shapes, 4 of 22 layers, F16, in two shards
  gemma3-1b-l6        Gemma 3 1B shapes, 6 of 26 layers (5 local + 1 global), F32, sliding
                      window 32 so that short tests cross it
  gemma3-1b           Gemma 3 1B shapes at full depth (26 layers), F32; only when named
Each hf-<preset>/ also gets a tokenizer.json (and tokenizer_config.json) built with PyPI
`tokenizers` from that GGUF vocabulary, as Hugging Face's own converters lay them out: byte-level
BPE for GPT-2; BPE with byte fallback and merges extracted from the SentencePiece scores for
Llama and Gemma. tokenizers/smollm2/tokenizer.json is SmolLM2's vocabulary the same way (byte-level
BPE, digits split one by one). The tokenizer tests compare tinyserve with `tokenizers` on these.
Deterministic: the same seed gives the same bytes (numpy's PCG64 uniform stream).
"""
import argparse
import hashlib
import json
import os
import sys

import numpy as np

FORMAT_VERSION = 5  # bump when the weights a preset gets change, so caches are rewritten
MODELS_DIR = os.environ.get("TINYSERVE_MODELS", os.path.expanduser("~/.cache/tinyserve"))
SHARED_VOCAB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "testdata", "vocab")

PRESETS = {
    "gpt2-124m": dict(arch="gpt2", dtype=np.float32, vocab_from="ggml-vocab-gpt-2.gguf",
                      config=dict(model_type="gpt2", architectures=["GPT2LMHeadModel"], vocab_size=50257,
                                  n_positions=1024, n_embd=768, n_layer=12, n_head=12, n_inner=None,
                                  activation_function="gelu_new", layer_norm_epsilon=1e-5,
                                  tie_word_embeddings=True)),
    "tinyllama-1.1b-l4": dict(arch="llama", dtype=np.float16, vocab_from="ggml-vocab-llama-spm.gguf", shards=2,
                              config=dict(model_type="llama", architectures=["LlamaForCausalLM"], vocab_size=32000,
                                          hidden_size=2048, intermediate_size=5632, num_hidden_layers=4,
                                          num_attention_heads=32, num_key_value_heads=4,
                                          max_position_embeddings=2048, rms_norm_eps=1e-5, rope_theta=10000.0,
                                          hidden_act="silu", tie_word_embeddings=False)),
    "gemma3-1b-l6": dict(arch="gemma3", dtype=np.float32, vocab_from="gemma-3-270m-q4_k_m.gguf",
                         config=dict(model_type="gemma3_text", architectures=["Gemma3ForCausalLM"], vocab_size=262144,
                                     hidden_size=1152, intermediate_size=6912, num_hidden_layers=6,
                                     num_attention_heads=4, num_key_value_heads=1, head_dim=256,
                                     max_position_embeddings=32768, rms_norm_eps=1e-6, rope_theta=1000000.0,
                                     rope_local_base_freq=10000.0, sliding_window=32, sliding_window_pattern=6,
                                     query_pre_attn_scalar=256, hidden_activation="gelu_pytorch_tanh",
                                     rope_scaling=None, tie_word_embeddings=True)),
    # Full depth, for `tinyserve profile` (the README's three-model table); not part of `make checkpoints`.
    "gemma3-1b": dict(arch="gemma3", dtype=np.float32, vocab_from="gemma-3-270m-q4_k_m.gguf", extra=True,
                      config=dict(model_type="gemma3_text", architectures=["Gemma3ForCausalLM"], vocab_size=262144,
                                  hidden_size=1152, intermediate_size=6912, num_hidden_layers=26,
                                  num_attention_heads=4, num_key_value_heads=1, head_dim=256,
                                  max_position_embeddings=32768, rms_norm_eps=1e-6, rope_theta=1000000.0,
                                  rope_local_base_freq=10000.0, sliding_window=512, sliding_window_pattern=6,
                                  query_pre_attn_scalar=256, hidden_activation="gelu_pytorch_tanh",
                                  rope_scaling=None, tie_word_embeddings=True)),
}


class Init:
    """Uniform random arrays with a given standard deviation, from one seeded stream."""

    def __init__(self, seed):
        self.rng = np.random.Generator(np.random.PCG64(seed))

    def normal_like(self, shape, std, mean=0.0):
        u = self.rng.random(shape, dtype=np.float64)  # uniform [0, 1): std of (u - 0.5) is 1/sqrt(12)
        return ((u - 0.5) * (std * np.sqrt(12.0)) + mean).astype(np.float32)


def hf_tensors(name, init):
    """HF-named arrays (float32) of a preset."""
    p = PRESETS[name]
    c = p["config"]
    t = {}
    if p["arch"] == "gpt2":
        E, V, L, P = c["n_embd"], c["vocab_size"], c["n_layer"], c["n_positions"]
        F = c["n_inner"] or 4 * E
        # Every projection has std 1/sqrt(fan-in), so each block adds about as much to the
        # residual stream as the embeddings hold and every op moves the output (with GPT-2's own
        # 0.02 init the blocks are noise and the model is an embedding lookup). The tied
        # output then gives logits of std ~1.4: spread, but not so peaked that a wrong op
        # leaves the top token unchanged.
        t["wte.weight"] = init.normal_like((V, E), 0.05)
        t["wpe.weight"] = init.normal_like((P, E), 0.05)
        for i in range(L):
            h = f"h.{i}."
            t[h + "ln_1.weight"] = init.normal_like((E,), 0.1, 1.0)
            t[h + "ln_1.bias"] = init.normal_like((E,), 0.02)
            t[h + "attn.c_attn.weight"] = init.normal_like((E, 3 * E), 1.0 / np.sqrt(E))  # Conv1D: [in, out]
            t[h + "attn.c_attn.bias"] = init.normal_like((3 * E,), 0.02)
            t[h + "attn.c_proj.weight"] = init.normal_like((E, E), 1.0 / np.sqrt(E))
            t[h + "attn.c_proj.bias"] = init.normal_like((E,), 0.02)
            t[h + "ln_2.weight"] = init.normal_like((E,), 0.1, 1.0)
            t[h + "ln_2.bias"] = init.normal_like((E,), 0.02)
            t[h + "mlp.c_fc.weight"] = init.normal_like((E, F), 1.0 / np.sqrt(E))
            t[h + "mlp.c_fc.bias"] = init.normal_like((F,), 0.02)
            t[h + "mlp.c_proj.weight"] = init.normal_like((F, E), 1.0 / np.sqrt(F))
            t[h + "mlp.c_proj.bias"] = init.normal_like((E,), 0.02)
        t["ln_f.weight"] = init.normal_like((E,), 0.1, 1.0)
        t["ln_f.bias"] = init.normal_like((E,), 0.02)
        return t
    E, V, L, F = c["hidden_size"], c["vocab_size"], c["num_hidden_layers"], c["intermediate_size"]
    H, Hkv = c["num_attention_heads"], c["num_key_value_heads"]
    D = c.get("head_dim", E // H)
    gemma = p["arch"] == "gemma3"
    norm = (lambda n: init.normal_like((n,), 0.1)) if gemma else (lambda n: init.normal_like((n,), 0.1, 1.0))
    t["model.embed_tokens.weight"] = init.normal_like((V, E), 0.02 if gemma else 0.5)
    # Gemma adds post-normed block outputs to a residual stream that starts with the tied
    # embedding scaled by sqrt(E): with unit norm gains the input token's own logit stands far
    # above the rest and every output is "repeat the input" whatever the layers do. Gains of
    # about 4 after each block (HF stores w, the model uses 1 + w) and 3 at the end, as trained
    # Gemma models have large ones, make the layers decide the output.
    post = lambda n: init.normal_like((n,), 0.3, 3.0)
    for i in range(L):
        b = f"model.layers.{i}."
        t[b + "input_layernorm.weight"] = norm(E)
        t[b + "self_attn.q_proj.weight"] = init.normal_like((H * D, E), 1.0 / np.sqrt(E))
        t[b + "self_attn.k_proj.weight"] = init.normal_like((Hkv * D, E), 1.0 / np.sqrt(E))
        t[b + "self_attn.v_proj.weight"] = init.normal_like((Hkv * D, E), 1.0 / np.sqrt(E))
        t[b + "self_attn.o_proj.weight"] = init.normal_like((E, H * D), 1.0 / np.sqrt(H * D))
        if gemma:
            t[b + "self_attn.q_norm.weight"] = norm(D)
            t[b + "self_attn.k_norm.weight"] = norm(D)
            t[b + "pre_feedforward_layernorm.weight"] = norm(E)
            t[b + "post_feedforward_layernorm.weight"] = post(E)
            t[b + "post_attention_layernorm.weight"] = post(E)
        else:
            t[b + "post_attention_layernorm.weight"] = norm(E)
        t[b + "mlp.gate_proj.weight"] = init.normal_like((F, E), 1.0 / np.sqrt(E))
        t[b + "mlp.up_proj.weight"] = init.normal_like((F, E), 1.0 / np.sqrt(E))
        t[b + "mlp.down_proj.weight"] = init.normal_like((E, F), 1.0 / np.sqrt(F))
    t["model.norm.weight"] = init.normal_like((E,), 0.2, 2.0) if gemma else norm(E)
    if not c.get("tie_word_embeddings", True):
        t["lm_head.weight"] = init.normal_like((V, E), 1.5 / np.sqrt(E))
    return t


def permute_rope(w, n_head):
    """HF rotate-half rows -> llama.cpp adjacent-pair rows, per head (the converter's permutation)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_tensors(name, t):
    """The same weights under llama.cpp's names and conventions."""
    p = PRESETS[name]
    c = p["config"]
    out = {}
    if p["arch"] == "gpt2":
        out["token_embd.weight"] = t["wte.weight"]
        out["position_embd.weight"] = t["wpe.weight"]
        out["output_norm.weight"] = t["ln_f.weight"]
        out["output_norm.bias"] = t["ln_f.bias"]
        for i in range(c["n_layer"]):
            h, b = f"h.{i}.", f"blk.{i}."
            for hf, gg, transpose in (("ln_1", "attn_norm", False), ("attn.c_attn", "attn_qkv", True),
                                      ("attn.c_proj", "attn_output", True), ("ln_2", "ffn_norm", False),
                                      ("mlp.c_fc", "ffn_up", True), ("mlp.c_proj", "ffn_down", True)):
                w = t[h + hf + ".weight"]
                out[b + gg + ".weight"] = np.ascontiguousarray(w.T) if transpose else w
                out[b + gg + ".bias"] = t[h + hf + ".bias"]
        return out
    gemma = p["arch"] == "gemma3"
    plus = (lambda w: (w + np.float32(1.0)).astype(np.float32)) if gemma else (lambda w: w)
    out["token_embd.weight"] = t["model.embed_tokens.weight"]
    out["output_norm.weight"] = plus(t["model.norm.weight"])
    if "lm_head.weight" in t:
        out["output.weight"] = t["lm_head.weight"]
    names = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate",
             "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    if gemma:
        names.update({"self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
                      "post_attention_layernorm": "post_attention_norm", "pre_feedforward_layernorm": "ffn_norm",
                      "post_feedforward_layernorm": "post_ffw_norm"})
    else:
        names["post_attention_layernorm"] = "ffn_norm"
    for i in range(c["num_hidden_layers"]):
        for hf, gg in names.items():
            w = t[f"model.layers.{i}.{hf}.weight"]
            if w.ndim == 1:
                w = plus(w)
            elif not gemma and hf == "self_attn.q_proj":
                w = permute_rope(w, c["num_attention_heads"])
            elif not gemma and hf == "self_attn.k_proj":
                w = permute_rope(w, c["num_key_value_heads"])
            out[f"blk.{i}.{gg}.weight"] = w
    return out


def copy_vocab(writer, vocab_path):
    import gguf
    r = gguf.GGUFReader(vocab_path)
    for key, field in r.fields.items():
        if not key.startswith("tokenizer.") or key == "tokenizer.chat_template":
            continue
        value = field.contents()
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            writer.add_array(key, value)
        elif vtype == gguf.GGUFValueType.STRING:
            writer.add_string(key, value)
        elif vtype == gguf.GGUFValueType.BOOL:
            writer.add_bool(key, value)
        elif vtype == gguf.GGUFValueType.FLOAT32:
            writer.add_float32(key, value)
        else:
            writer.add_uint32(key, int(value))


def write_gguf(name, tensors, path):
    import gguf
    p = PRESETS[name]
    c = p["config"]
    arch = p["arch"]
    w = gguf.GGUFWriter(path, arch)
    w.add_name(name)
    if arch == "gpt2":
        w.add_context_length(c["n_positions"])
        w.add_embedding_length(c["n_embd"])
        w.add_feed_forward_length(c["n_inner"] or 4 * c["n_embd"])
        w.add_block_count(c["n_layer"])
        w.add_head_count(c["n_head"])
        w.add_layer_norm_eps(c["layer_norm_epsilon"])
    else:
        w.add_context_length(c["max_position_embeddings"])
        w.add_embedding_length(c["hidden_size"])
        w.add_feed_forward_length(c["intermediate_size"])
        w.add_block_count(c["num_hidden_layers"])
        w.add_head_count(c["num_attention_heads"])
        w.add_head_count_kv(c["num_key_value_heads"])
        w.add_layer_norm_rms_eps(c["rms_norm_eps"])
        w.add_rope_freq_base(c["rope_theta"])
        if arch == "gemma3":
            w.add_key_length(c["head_dim"])
            w.add_value_length(c["head_dim"])
            w.add_sliding_window(c["sliding_window"])
        else:
            w.add_rope_dimension_count(c["hidden_size"] // c["num_attention_heads"])
    w.add_vocab_size(c["vocab_size"])
    copy_vocab(w, vocab_file(p["vocab_from"]))
    for n, a in tensors.items():
        # llama.cpp keeps 1-D tensors (norms, biases) in f32 whatever the matrices' type.
        w.add_tensor(n, a if a.ndim == 1 else a.astype(p["dtype"]))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_hf(name, tensors, out_dir):
    from safetensors.numpy import save_file
    p = PRESETS[name]
    os.makedirs(out_dir, exist_ok=True)
    config = {k: v for k, v in p["config"].items()}
    config["torch_dtype"] = "float16" if p["dtype"] == np.float16 else "float32"
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    arrays = {n: (a if a.ndim == 1 else a.astype(p["dtype"])) for n, a in tensors.items()}
    shards = p.get("shards", 1)
    if shards == 1:
        save_file(arrays, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
        return
    names = list(arrays)
    weight_map, total = {}, 0
    for s in range(shards):
        part = names[s * len(names) // shards:(s + 1) * len(names) // shards]
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        save_file({n: arrays[n] for n in part}, os.path.join(out_dir, fname), metadata={"format": "pt"})
        for n in part:
            weight_map[n] = fname
            total += arrays[n].nbytes
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=1)


def read_gguf_vocab(path):
    import gguf
    r = gguf.GGUFReader(path)
    get = lambda k, d=None: r.fields[k].contents() if k in r.fields else d
    return dict(model=get("tokenizer.ggml.model"), pre=get("tokenizer.ggml.pre"), tokens=get("tokenizer.ggml.tokens"),
                scores=get("tokenizer.ggml.scores"), types=get("tokenizer.ggml.token_type"),
                merges=get("tokenizer.ggml.merges"), bos=get("tokenizer.ggml.bos_token_id"),
                eos=get("tokenizer.ggml.eos_token_id"), unk=get("tokenizer.ggml.unknown_token_id"),
                add_space_prefix=get("tokenizer.ggml.add_space_prefix", True))


def spm_merges(tokens, scores, types):
    """Merges implied by a SentencePiece vocabulary: every split of a piece into two pieces of the
    vocabulary, pieces in order of score (highest first), splits of one piece by their ids."""
    vocab = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    merges = []
    order = sorted(range(len(tokens)), key=lambda i: (-scores[i], i))
    for i in order:
        if types[i] != 1:  # normal pieces only: control, byte and user-defined ones are never merged into
            continue
        piece = tokens[i]
        local = []
        for k in range(1, len(piece)):
            left, right = piece[:k], piece[k:]
            if left in vocab and right in vocab:
                local.append((vocab[left], vocab[right], left, right))
        local.sort()
        merges.extend((l, r) for _, _, l, r in local)
    return merges


def build_tokenizer(vocab_path, out_dir):
    """tokenizer.json + tokenizer_config.json for a GGUF vocabulary."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    v = read_gguf_vocab(vocab_path)
    tokens, types = v["tokens"], v["types"] or [1] * len(v["tokens"])
    vocab = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    special = [AddedToken(tokens[i], special=True, normalized=False) for i in range(len(tokens)) if types[i] == 3]
    user = [AddedToken(tokens[i], special=False, normalized=False) for i in range(len(tokens)) if types[i] == 4]
    if v["model"] == "gpt2":
        merges = [tuple(m.split(" ", 1)) for m in v["merges"]]
        tk = Tokenizer(models.BPE(vocab=vocab, merges=merges))
        byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        if v["pre"] == "smollm":
            tk.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
        elif v["pre"] in ("gpt-2", "default", None):
            tk.pre_tokenizer = byte_level
        else:
            raise SystemExit(f"{vocab_path}: no tokenizer.json recipe for pre-tokenizer {v['pre']!r}")
        tk.decoder = decoders.ByteLevel()
    elif v["model"] == "llama":
        merges = spm_merges(tokens, v["scores"], types)
        tk = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=tokens[v["unk"] or 0], fuse_unk=True,
                                  byte_fallback=True))
        steps = [normalizers.Replace(" ", "\u2581")]
        if v["add_space_prefix"]:
            steps.insert(0, normalizers.Prepend("\u2581"))
        tk.normalizer = normalizers.Sequence(steps)
        tk.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()]
                                       + ([decoders.Strip(" ", 1, 0)] if v["add_space_prefix"] else []))
        bos = tokens[v["bos"]]
        tk.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                          special_tokens=[(bos, v["bos"])])
    else:
        raise SystemExit(f"{vocab_path}: tokenizer model {v['model']!r} has no tokenizer.json recipe")
    tk.add_special_tokens(special)
    tk.add_tokens(user)
    os.makedirs(out_dir, exist_ok=True)
    tk.save(os.path.join(out_dir, "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast"}
    if v["bos"] is not None:
        config["bos_token"] = tokens[v["bos"]]
    if v["eos"] is not None:
        config["eos_token"] = tokens[v["eos"]]
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=1)


def vocab_file(name):
    path = os.path.join(SHARED_VOCAB, name)
    return path if os.path.exists(path) else os.path.join(MODELS_DIR, name)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("presets", nargs="*", default=[n for n, p in PRESETS.items() if not p.get("extra")],
                    help=f"of {list(PRESETS)} (default: all but gemma3-1b)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=MODELS_DIR)
    args = ap.parse_args()
    smollm2 = os.path.join(args.out, "tokenizers", "smollm2")
    if not os.path.exists(os.path.join(smollm2, "tokenizer.json")):
        build_tokenizer(os.path.join(MODELS_DIR, "SmolLM2-135M-Instruct.Q4_1.gguf"), smollm2)
        print("make-checkpoints: wrote tokenizers/smollm2")
    for name in args.presets:
        if name not in PRESETS:
            sys.exit(f"unknown preset {name!r} (choose from {list(PRESETS)})")
        gguf_path = os.path.join(args.out, f"{name}.gguf")
        hf_dir = os.path.join(args.out, f"hf-{name}")
        stamp = os.path.join(hf_dir, ".complete")
        tag = f"{FORMAT_VERSION} seed {args.seed}"
        if os.path.exists(stamp) and os.path.exists(gguf_path) and open(stamp).read() == tag:
            print(f"make-checkpoints: {name} present")
            continue
        print(f"make-checkpoints: writing {name} (seed {args.seed})")
        tensors = hf_tensors(name, Init(args.seed))
        write_hf(name, tensors, hf_dir)
        build_tokenizer(vocab_file(PRESETS[name]["vocab_from"]), hf_dir)
        write_gguf(name, gguf_tensors(name, tensors), gguf_path + ".part")
        os.replace(gguf_path + ".part", gguf_path)
        digest = hashlib.sha256()
        for n in sorted(tensors):
            digest.update(tensors[n].tobytes())
        with open(stamp, "w") as f:
            f.write(tag)
        print(f"make-checkpoints: {name}: {sum(a.size for a in tensors.values()) / 1e6:.1f}M parameters, "
              f"weights sha256 {digest.hexdigest()[:16]}")


if __name__ == "__main__":
    main()
