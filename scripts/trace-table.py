#!/usr/bin/env python3
"""The seed reports' three-model trace table from `tinyserve profile --json`.

Tooling only. For each model: prefill and decode time, the decode time per token split into
layers, output projection, embedding, final norm and sampling, and attention vs FFN per layer
(mean over layers, decode). Prints Markdown.

  scripts/trace-table.py --tinyserve build/bin/tinyserve -t 2 MODEL [MODEL ...]
"""
import argparse
import json
import subprocess
import sys


def profile(binary, model, threads, prompt, gen):
    out = subprocess.run([binary, "profile", "-m", model, "--prompt-len", str(prompt), "--gen", str(gen),
                          "-t", str(threads), "--no-limits", "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--tinyserve", default="build/bin/tinyserve")
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--prompt-len", type=int, default=128)
    ap.add_argument("--gen", type=int, default=32)
    args = ap.parse_args()
    rows = []
    for m in args.models:
        print(f"profiling {m}", file=sys.stderr)
        rows.append(profile(args.tinyserve, m, args.threads, args.prompt_len, args.gen))

    print(f"Prompt {args.prompt_len} tokens, {args.gen} generated (greedy), {args.threads} threads.\n")
    print("| model | prefill | decode | decode ms/token | layers | output projection | embedding | norm | sampling |"
          " attention / layer | FFN / layer | attention share |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for j in rows:
        p, d = j["phases"]["prefill"], j["phases"]["decode"]
        n = max(1, d["tokens"])
        per = lambda key: d[key] / n  # noqa: E731
        total = per("total_ms")
        share = lambda v: f"{v:.2f} ms ({100 * v / total:.1f}%)"  # noqa: E731
        attn = sum(d["attn_ms_per_layer"]) / len(d["attn_ms_per_layer"]) / n
        ffn = sum(d["ffn_ms_per_layer"]) / len(d["ffn_ms_per_layer"]) / n
        print(f"| {j['model']} | {p['total_ms']:.0f} ms ({p['tokens'] / p['total_ms'] * 1000:.0f} tok/s) "
              f"| {d['total_ms']:.0f} ms ({n / d['total_ms'] * 1000:.1f} tok/s) | {total:.2f} "
              f"| {share(per('layers_ms'))} | {share(per('lm_head_ms'))} | {share(per('embedding_ms'))} "
              f"| {share(per('norm_ms'))} | {share(per('sampling_ms'))} | {attn:.3f} ms | {ffn:.3f} ms "
              f"| {100 * attn / (attn + ffn):.0f}% |")


if __name__ == "__main__":
    main()
