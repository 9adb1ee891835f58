#!/usr/bin/env python3
"""Dump llama.cpp's intermediate tensors for one batch of tokens, for layer-by-layer debugging.

Tooling only. Runs the prompt through llama.cpp (via llama-cpp-python's low-level API) with an
eval callback that copies every F32 graph tensor whose name matches --names, and writes them to
an .npz keyed by the graph name (e.g. "attn_norm-0", "Qcur-3", "l_out-29", "result_output").
Compare with `tinyserve` dumps of the same prompt (see --dump in `tinyserve run --help`).
"""
import argparse
import ctypes
import fnmatch
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", required=True, help="comma-separated token ids, evaluated as one batch")
    ap.add_argument("--names", default="*", help="comma-separated glob patterns of tensor names")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--flash-attn", action="store_true", help="use llama.cpp's fused attention (the fixtures do not)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import llama_cpp
    ggml = ctypes.CDLL(llama_cpp.llama_cpp._lib._name.replace("libllama", "libggml-base"))
    ggml.ggml_get_name.restype = ctypes.c_char_p
    ggml.ggml_get_name.argtypes = [ctypes.c_void_p]
    ggml.ggml_nbytes.restype = ctypes.c_size_t
    ggml.ggml_nbytes.argtypes = [ctypes.c_void_p]
    ggml.ggml_is_contiguous.restype = ctypes.c_bool
    ggml.ggml_is_contiguous.argtypes = [ctypes.c_void_p]
    ggml.ggml_backend_tensor_get.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t]

    patterns = args.names.split(",")
    dumps = {}

    def wanted(t):
        name = ggml.ggml_get_name(t).decode()
        ttype = ctypes.c_int.from_address(t).value
        return name, ttype == 0 and any(fnmatch.fnmatch(name, p) for p in patterns)

    @llama_cpp.ggml_backend_sched_eval_callback
    def callback(t, ask, _user):
        name, ok = wanted(t)
        if ask:
            return ok
        if ok and ggml.ggml_is_contiguous(t):
            ne = (ctypes.c_int64 * 4).from_address(t + 16)
            buf = np.empty(ggml.ggml_nbytes(t) // 4, dtype=np.float32)
            ggml.ggml_backend_tensor_get(t, buf.ctypes.data, 0, buf.nbytes)
            shape = [int(ne[i]) for i in range(4)][::-1]
            key, k = name, 1
            while key in dumps:  # llama.cpp reuses a name across steps (e.g. Qcur before and after RoPE)
                k += 1
                key = f"{name}#{k}"
            dumps[key] = buf.reshape(shape).squeeze()
        return True

    llama_cpp.llama_backend_init()
    mparams = llama_cpp.llama_model_default_params()
    model = llama_cpp.llama_model_load_from_file(args.model.encode(), mparams)
    cparams = llama_cpp.llama_context_default_params()
    tokens = [int(x) for x in args.tokens.split(",")]
    cparams.n_ctx = max(64, len(tokens))
    cparams.n_batch = cparams.n_ctx
    cparams.n_ubatch = cparams.n_ctx
    cparams.n_threads = cparams.n_threads_batch = args.threads
    cparams.flash_attn_type = (llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if args.flash_attn
                               else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED)
    cparams.cb_eval = callback
    cparams.cb_eval_user_data = None
    ctx = llama_cpp.llama_init_from_model(model, cparams)
    arr = (llama_cpp.llama_token * len(tokens))(*tokens)
    batch = llama_cpp.llama_batch_get_one(arr, len(tokens))
    if llama_cpp.llama_decode(ctx, batch) != 0:
        sys.exit("llama_decode failed")
    np.savez(args.out, **dumps)
    print(f"{len(dumps)} tensors -> {args.out}", file=sys.stderr)
    for k in list(dumps)[:12]:
        print(f"  {k} {dumps[k].shape}", file=sys.stderr)


if __name__ == "__main__":
    main()
