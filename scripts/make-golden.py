#!/usr/bin/env python3
"""Record llama.cpp's behaviour on our test models as small committed fixtures.

Tooling only (llama-cpp-python is the oracle); the C++ tests compare against its output.
SmolLM2-135M-Instruct Q4_1 (tests/fixtures/smollm2_q4_1/):
  greedy.json  - 8 prompts, llama.cpp's greedy continuations (32 tokens)
  ppl.json     - perplexity of tests/fixtures/public_domain_text.txt at ctx 512, computed the way
                 llama.cpp's perplexity tool does, plus the top-k next-token log-probabilities at
                 every scored position (for KL divergence and same-top checks).
TinyLlama-shaped random-weight models from `tinyserve synth --seed 1` (Q8_0 and Q4_0;
tests/fixtures/synth_tinyllama_<type>/ppl.json): the same over the first 2 chunks, top-16.
The tests regenerate the synth models with the same seed, so the weights match.
Gemma 3 270M Q4_K_M (tests/fixtures/gemma3_270m_q4_k_m/): greedy.json and ppl.json as for
SmolLM2, the last prompt in Gemma's chat format, perplexity over the first 4 chunks.
Random-weight checkpoints of scripts/make-checkpoints.py (tests/fixtures/ckpt_<preset>/ppl.json):
llama.cpp on each GGUF twin, the same measures over 2 chunks of 128 tokens, top-16.
tokenizer.json files of those checkpoints and of SmolLM2 (tests/fixtures/tokenizer_json/<name>.json):
1000 random strings (mixed scripts, emoji, whitespace runs, digits, punctuation) and the ids PyPI
`tokenizers` gives for them (no special tokens added).

The reference build: llama-cpp-python compiled for AVX2 + FMA + F16C without AVX-512
(`scripts/setup --oracle` installs it apart from the everyday build, in ORACLE_DIR below, which
this script puts first on its path). The engine's AVX2 kernels reproduce that build's arithmetic
bit for bit, its K-quant and attention summation orders included. A build for another ISA sums in
other orders: on Gemma 3 270M an AVX-512 build agrees with the AVX2 fixtures on only 92.5% of top
tokens, so this script refuses one unless --any-build is given.
"""
import subprocess
import argparse
import json
import math
import os
import sys

import numpy as np

from llamacpp_chunks import adds_bos, chunk_logits, tokenize_text

PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea,",
    "def fibonacci(n):",
    "The three primary colors are",
    "Water boils at a temperature of",
    "In 1492, Christopher Columbus",
    "The quick brown fox",
]
CHAT_PROMPTS = {
    "smollm2": "<|im_start|>user\nWhat is the largest planet in our solar system?<|im_end|>\n<|im_start|>assistant\n",
    "gemma3": "<start_of_turn>user\nWhat is the largest planet in our solar system?<end_of_turn>\n<start_of_turn>model\n",
}
MODELS_DIR = os.environ.get("TINYSERVE_MODELS", os.path.expanduser("~/.cache/tinyserve"))
ORACLE_DIR = os.path.join(MODELS_DIR, "oracle-avx2")
if os.path.isdir(ORACLE_DIR):
    sys.path.insert(0, ORACLE_DIR)


def check_reference_build():
    """Exits unless the llama-cpp-python in use is the AVX2 reference build."""
    import llama_cpp
    info = llama_cpp.llama_print_system_info().decode()
    flags = {k.strip(): v.strip() for k, v in (f.split("=") for f in info.split(":", 1)[-1].split("|") if "=" in f)}
    if flags.get("AVX2") != "1" or flags.get("FMA") != "1" or flags.get("AVX512", "0") == "1":
        sys.exit(f"make-golden: llama-cpp-python at {os.path.dirname(llama_cpp.__file__)} is not the AVX2 reference "
                 f"build ({info.strip()}); run scripts/setup --oracle, or pass --any-build")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--text", default="tests/fixtures/public_domain_text.txt")
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--top-k", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--what", choices=["smollm2", "gemma3", "synth", "checkpoints", "tokenizers", "all"], default="all")
    ap.add_argument("--tinyserve", default="build/bin/tinyserve", help="binary used to make the synth models")
    ap.add_argument("--any-build", action="store_true", help="accept a llama.cpp build other than the AVX2 reference")
    args = ap.parse_args()
    if args.what != "tokenizers" and not args.any_build:
        check_reference_build()
    if args.what in ("synth", "all"):
        synth_fixtures(args)
    if args.what in ("checkpoints", "all"):
        checkpoint_fixtures(args)
    if args.what in ("tokenizers", "all"):
        tokenizer_fixtures()
    if args.what in ("smollm2", "all"):
        real_model_fixtures(args, os.path.join(MODELS_DIR, "SmolLM2-135M-Instruct.Q4_1.gguf"),
                            "tests/fixtures/smollm2_q4_1", PROMPTS + [CHAT_PROMPTS["smollm2"]], 1 << 30)
    if args.what in ("gemma3", "all"):
        real_model_fixtures(args, os.path.join(MODELS_DIR, "gemma-3-270m-q4_k_m.gguf"),
                            "tests/fixtures/gemma3_270m_q4_k_m", PROMPTS + [CHAT_PROMPTS["gemma3"]], 4)


def record_distributions(llm, text, n_ctx, max_chunks, top_k):
    """llama.cpp perplexity tool's method; returns (ppl, chunks, count, positions with top-k log-probs)."""
    tokens = tokenize_text(llm, text)
    n_chunk = min(len(tokens) // n_ctx, max_chunks)
    first = n_ctx // 2
    nll, count = 0.0, 0
    positions = []
    for c, logits in chunk_logits(llm, tokens, n_ctx, n_chunk):
        for j in range(first, n_ctx - 1):
            row = logits[j].astype(np.float64)
            m = row.max()
            lse = m + math.log(np.exp(row - m).sum())
            logp = row - lse
            target = tokens[c * n_ctx + j + 1]
            nll -= logp[target]
            count += 1
            top = np.argsort(-logp)[:top_k]
            positions.append({"t": int(target), "ids": [int(i) for i in top],
                              "lp": [round(float(logp[i]), 5) for i in top]})
        print(f"ppl chunk {c + 1}/{n_chunk}: {math.exp(nll / count):.4f}", file=sys.stderr)
    return math.exp(nll / count), n_chunk, count, positions


def synth_fixtures(args):
    import llama_cpp
    cache = os.environ.get("TINYSERVE_MODELS", os.path.expanduser("~/.cache/tinyserve"))
    text = open(args.text, encoding="utf-8").read()
    for qtype in ("q8_0", "q4_0"):
        path = os.path.join(cache, f"synth-tinyllama-1.1b-{qtype}-seed1.gguf")
        if not os.path.exists(path):
            subprocess.run([args.tinyserve, "synth", "--preset", "tinyllama-1.1b", "--type", qtype, "--seed", "1",
                            "-o", path], check=True)
        llm = llama_cpp.Llama(model_path=path, n_ctx=args.ctx, n_batch=args.ctx, n_threads=args.threads,
                              logits_all=True, verbose=False)
        ppl, n_chunk, count, positions = record_distributions(llm, text, args.ctx, 2, 16)
        out = f"tests/fixtures/synth_tinyllama_{qtype}"
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "ppl.json"), "w") as f:
            json.dump({"model": f"tinyserve synth --preset tinyllama-1.1b --type {qtype} --seed 1",
                       "oracle": f"llama-cpp-python {llama_cpp.__version__}", "ctx": args.ctx, "chunks": n_chunk,
                       "ppl": ppl, "scored": count, "top_k": 16, "positions": positions}, f, separators=(",", ":"))
        print(f"{qtype}: PPL = {ppl:.6f}", file=sys.stderr)


# Building blocks of the random strings: every script and character class a tokenizer treats
# differently (letters, marks, digits of several systems, punctuation, symbols, emoji with
# modifiers and joiners, whitespace of every kind).
PIECES = [
    "the", "The", "quick", "don't", "we'll", "I'm", "O'Neil", "HTTP", "camelCase", "snake_case", "e-mail", "naïve",
    "café", "Zürich", "straße", "ÆØÅ", "ﬁnance", "Ελληνικά", "русский", "Український", "עברית", "العربية", "हिन्दी",
    "தமிழ்", "ไทย", "日本語", "中文字符", "한국어", "ひらがな", "カタカナ", "ქართული", "Ա", "ß", "İstanbul",
    "0", "7", "42", "1234", "3.14159", "1,000,000", "२०२४", "٣٤٥", "½", "²", "Ⅻ",
    "!", "?", "...", "—", "–", "«»", "“quoted”", "(", ")", "[x]", "{}", "<tag>", "</s>", "#", "$9.99", "%", "&&", "||",
    "->", "=>", "::", "@user", "~/path/to/file.txt", "C:\\dir", "a+b=c", "^_^", "\\n",
    "😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "✓", "∑", "∞", "€", "©", "\u200b", "\u00a0", "\u3000",
    " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\t\t", "    ",
]


def random_strings(n, seed):
    import random
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(1, 12)
        parts = []
        for _ in range(k):
            r = rng.random()
            if r < 0.65:
                parts.append(rng.choice(PIECES))
            elif r < 0.8:
                parts.append(" ")
            elif r < 0.9:  # random code points of the Basic Multilingual Plane, surrogates excluded
                cp = rng.randint(0x20, 0xFFFF)
                parts.append(chr(cp) if not 0xD800 <= cp <= 0xDFFF else "?")
            else:
                parts.append(str(rng.randint(0, 10 ** rng.randint(1, 9))))
        out.append("".join(parts))
    return out


def tokenizer_fixtures():
    import tokenizers
    subprocess.run([sys.executable, "scripts/make-checkpoints.py"], check=True)
    sources = {"gpt2": "hf-gpt2-124m", "llama_spm": "hf-tinyllama-1.1b-l4", "gemma3": "hf-gemma3-1b-l6",
               "smollm2": os.path.join("tokenizers", "smollm2")}
    os.makedirs("tests/fixtures/tokenizer_json", exist_ok=True)
    for i, (name, sub) in enumerate(sources.items()):
        tk = tokenizers.Tokenizer.from_file(os.path.join(MODELS_DIR, sub, "tokenizer.json"))
        cases = [{"text": t, "ids": tk.encode(t, add_special_tokens=False).ids} for t in random_strings(1000, 100 + i)]
        with open(f"tests/fixtures/tokenizer_json/{name}.json", "w", encoding="utf-8") as f:
            json.dump({"tokenizer": sub + "/tokenizer.json (scripts/make-checkpoints.py)",
                       "oracle": f"tokenizers {tokenizers.__version__}", "cases": cases}, f, ensure_ascii=False,
                      separators=(",", ":"))
        print(f"{name}: {len(cases)} strings, {sum(len(c['ids']) for c in cases)} tokens", file=sys.stderr)


def checkpoint_fixtures(args):
    import llama_cpp
    text = open(args.text, encoding="utf-8").read()
    subprocess.run([sys.executable, "scripts/make-checkpoints.py"], check=True)
    for preset in ("gpt2-124m", "tinyllama-1.1b-l4", "gemma3-1b-l6"):
        path = os.path.join(MODELS_DIR, f"{preset}.gguf")
        n_ctx = 128
        llm = llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_batch=n_ctx, n_threads=args.threads,
                              logits_all=True, verbose=False)
        ppl, n_chunk, count, positions = record_distributions(llm, text, n_ctx, 2, 16)
        out = f"tests/fixtures/ckpt_{preset}"
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "ppl.json"), "w") as f:
            json.dump({"model": f"scripts/make-checkpoints.py {preset} --seed 1",
                       "oracle": f"llama-cpp-python {llama_cpp.__version__}", "ctx": n_ctx, "chunks": n_chunk,
                       "ppl": ppl, "scored": count, "top_k": 16, "positions": positions}, f, separators=(",", ":"))
        print(f"{preset}: PPL = {ppl:.6f}", file=sys.stderr)
        del llm


def real_model_fixtures(args, model, out_dir, prompts, max_chunks):
    import llama_cpp  # imported late so --help works without it

    os.makedirs(out_dir, exist_ok=True)
    llm = llama_cpp.Llama(model_path=model, n_ctx=args.ctx, n_batch=args.ctx, n_threads=args.threads,
                          logits_all=True, verbose=False)
    add_bos = adds_bos(llm)

    greedy = []
    for p in prompts:
        ids = llm.tokenize(p.encode(), add_bos=add_bos, special=True)
        llm.reset()
        out = []
        for t in llm.generate(ids, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0):
            out.append(int(t))
            if len(out) >= 32:
                break
        greedy.append({"prompt": p, "prompt_tokens": [int(x) for x in ids], "tokens": out,
                       "text": llm.detokenize(out).decode("utf-8", errors="replace")})
        print(f"greedy: {p[:40]!r} -> {greedy[-1]['text'][:60]!r}", file=sys.stderr)
    with open(os.path.join(out_dir, "greedy.json"), "w") as f:
        json.dump({"model": os.path.basename(model), "oracle": f"llama-cpp-python {llama_cpp.__version__}",
                   "cases": greedy}, f, indent=1)

    text = open(args.text, encoding="utf-8").read()
    ppl, n_chunk, count, positions = record_distributions(llm, text, args.ctx, max_chunks, args.top_k)
    n_ctx = args.ctx
    with open(os.path.join(out_dir, "ppl.json"), "w") as f:
        json.dump({"model": os.path.basename(model), "oracle": f"llama-cpp-python {llama_cpp.__version__}",
                   "ctx": n_ctx, "chunks": n_chunk, "ppl": ppl, "scored": count,
                   "top_k": args.top_k, "positions": positions}, f, separators=(",", ":"))
    print(f"PPL = {ppl:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
