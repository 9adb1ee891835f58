#!/usr/bin/env python3
"""Interoperability checks against llama.cpp (tooling; needs `scripts/setup --tooling`).

1. Quantizer: `tinyserve synth --type f16` -> llama.cpp's quantizer (llama-cpp-python, pure
   Q4_0) and `tinyserve synth --type q4_0` from the same seed must hold byte-identical tensors
   (`tinyserve inspect --diff`), and tinyserve must load and run llama.cpp's file.
2. KL-divergence base files: a base file in llama.cpp's perplexity-tool format written from
   llama.cpp's logits is read by `tinyserve perplexity --kl-divergence` (expect KL ~ 0 where the
   engines agree), and tinyserve's own base file is read back here against llama.cpp's logits.

Exit status 0 only if every check passes.
"""
import argparse
import math
import os
import re
import struct
import subprocess
import sys

import numpy as np

from llamacpp_chunks import chunk_logits, tokenize_text

MAGIC = b"_logits_"


def run(cmd):
    print("+ " + " ".join(cmd), file=sys.stderr)
    return subprocess.run(cmd, check=False, capture_output=True, text=True)


def check_quantizer(args):
    import llama_cpp
    os.makedirs(args.workdir, exist_ok=True)
    f16 = os.path.join(args.workdir, f"{args.preset}-f16.gguf")
    ours = os.path.join(args.workdir, f"{args.preset}-q4_0-ours.gguf")
    theirs = os.path.join(args.workdir, f"{args.preset}-q4_0-llamacpp.gguf")
    for path, qtype in ((f16, "f16"), (ours, "q4_0")):
        if not os.path.exists(path):
            r = run([args.tinyserve, "synth", "--preset", args.preset, "--type", qtype, "--seed", "1", "-o", path])
            if r.returncode != 0:
                sys.exit(r.stderr)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0
    params.pure = True  # every matrix Q4_0, as our synth writes it (no Q6_K output layer)
    if llama_cpp.llama_model_quantize(f16.encode(), theirs.encode(), params) != 0:
        sys.exit("llama.cpp quantization failed")
    diff = run([args.tinyserve, "inspect", "-m", ours, "--diff", theirs])
    print(diff.stdout.strip().splitlines()[-1])
    gen = run([args.tinyserve, "run", "-m", theirs, "-p", "Hello", "-n", "4", "--temp", "0", "-t", str(args.threads)])
    print("tinyserve runs llama.cpp's file:", "yes" if gen.returncode == 0 else "NO\n" + gen.stderr)
    return diff.returncode == 0 and gen.returncode == 0


def pack(logits):
    """One scored position as llama.cpp's base file stores it: scale, min log-prob, uint16s."""
    mx = float(logits.max())
    mn = max(float(logits.min()), mx - 16.0)
    lse = math.log(np.exp(logits.astype(np.float64) - mx).sum())
    scale = np.float32((mx - mn) / 65535.0)
    q = np.where(logits > mn, np.rint((logits - mn) / scale), 0).astype(np.uint16)
    return struct.pack("<ff", scale, mn - mx - lse) + q.tobytes() + (b"\0\0" if len(q) % 2 else b"")


def read_base(path):
    data = open(path, "rb").read()
    assert data[:8] == MAGIC, "bad magic"
    n_ctx, n_vocab, n_chunk = struct.unpack_from("<Iii", data, 8)
    off = 20 + 4 * n_ctx * n_chunk
    row = 2 * ((n_vocab + 1) // 2) + 4
    rows = np.frombuffer(data, dtype=np.uint16, offset=off).reshape(-1, row)
    return n_ctx, n_vocab, n_chunk, rows


def check_kl_files(args):
    import llama_cpp
    llm = llama_cpp.Llama(model_path=args.model, n_ctx=args.ctx, n_batch=args.ctx, n_threads=args.threads,
                          logits_all=True, verbose=False)
    text = open(args.text, encoding="utf-8").read()
    n_ctx, first = args.ctx, args.ctx // 2
    tokens = tokenize_text(llm, text)
    n_chunk = min(len(tokens) // n_ctx, args.chunks)
    n_vocab = llm.n_vocab()
    theirs = os.path.join(args.workdir, "llamacpp.kld")
    logits_by_chunk = []
    with open(theirs, "wb") as f:
        f.write(MAGIC + struct.pack("<Iii", n_ctx, n_vocab, n_chunk))
        f.write(np.array(tokens[:n_ctx * n_chunk], dtype=np.int32).tobytes())
        for _, lg in chunk_logits(llm, tokens, n_ctx, n_chunk):
            logits_by_chunk.append(lg)
            for j in range(first, n_ctx - 1):
                f.write(pack(lg[j]))
    r = run([args.tinyserve, "perplexity", "-m", args.model, "--kl-divergence-base", theirs, "--kl-divergence",
             "-t", str(args.threads)])
    print(r.stdout.strip())
    m = re.search(r"Mean\s+KLD:\s+([-0-9.e]+)", r.stdout)
    ok_read = r.returncode == 0 and m is not None and float(m.group(1)) <= 0.01

    ours = os.path.join(args.workdir, "tinyserve.kld")
    r2 = run([args.tinyserve, "perplexity", "-m", args.model, "-f", args.text, "--ctx", str(n_ctx), "--chunks",
              str(n_chunk), "--kl-divergence-base", ours, "-t", str(args.threads)])
    ok_write = r2.returncode == 0
    if ok_write:
        b_ctx, b_vocab, b_chunk, rows = read_base(ours)
        ok_write = (b_ctx, b_vocab, b_chunk) == (n_ctx, n_vocab, n_chunk)
        kls, same = [], 0
        for c in range(n_chunk):
            for k, j in enumerate(range(first, n_ctx - 1)):
                row = rows[c * (n_ctx - 1 - first) + k]
                scale, min_lp = struct.unpack("<ff", row[:4].tobytes())
                base_lp = scale * row[4:4 + n_vocab].astype(np.float64) + min_lp
                lg = logits_by_chunk[c][j].astype(np.float64)
                lp = lg - (lg.max() + math.log(np.exp(lg - lg.max()).sum()))
                kept = row[4:4 + n_vocab] > 0  # entries at the 16-nat floor are left out, as llama.cpp does
                p = np.exp(base_lp[kept])
                kls.append(float((p * (base_lp[kept] - lp[kept])).sum()))
                same += int(np.argmax(base_lp) == np.argmax(lp))
        print(f"tinyserve's base file read here: mean KL {np.mean(kls):.6f}, same top {100.0 * same / len(kls):.2f}%")
        ok_write = ok_write and np.mean(kls) <= 0.01
    return ok_read and ok_write


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinyserve", default="build/bin/tinyserve")
    ap.add_argument("--workdir", default=os.path.join(os.environ.get("TINYSERVE_MODELS", os.path.expanduser(
        "~/.cache/tinyserve")), "interop"))
    ap.add_argument("--preset", default="tinyllama-1.1b")
    ap.add_argument("--model", default=os.path.join(os.environ.get("TINYSERVE_MODELS", os.path.expanduser(
        "~/.cache/tinyserve")), "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--text", default="tests/fixtures/public_domain_text.txt")
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--chunks", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    results = {"quantizer": check_quantizer(args), "kl-divergence files": check_kl_files(args)}
    for name, ok in results.items():
        print(f"{name}: {'PASS' if ok else 'FAIL'}")
    sys.exit(0 if all(results.values()) else 1)


if __name__ == "__main__":
    main()
