"""llama.cpp perplexity-tool chunking over llama-cpp-python, shared by the tooling scripts."""
import numpy as np


def tokenize_text(llm, text):
    """Tokens of text as llama.cpp's perplexity tool takes them (BOS if the vocabulary adds one)."""
    return llm.tokenize(text.encode(), add_bos=adds_bos(llm), special=False)


def adds_bos(llm):
    return llm.metadata.get("tokenizer.ggml.add_bos_token", "false") == "true"


def chunk_logits(llm, tokens, n_ctx, n_chunk):
    """Yields (chunk index, logits [n_ctx, n_vocab] as float32) for each non-overlapping chunk,
    BOS replacing its first token when the vocabulary adds one."""
    for c in range(n_chunk):
        chunk = list(tokens[c * n_ctx:(c + 1) * n_ctx])
        if adds_bos(llm):
            chunk[0] = llm.token_bos()
        llm.reset()
        llm.eval(chunk)
        yield c, np.array(llm.scores[:n_ctx], dtype=np.float32)
