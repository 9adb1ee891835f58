"""The server against the official `openai` Python client: both endpoints streaming and not,
sampling parameters, error replies, 32 concurrent streams that must equal their non-streamed
twins token for token (greedy), and cancelling 10 of 50 streams midway.

Usage: openai_client_test.py TINYSERVE_BINARY [MODEL.gguf]
"""
import concurrent.futures as futures
import json
import sys
import time
import unittest

import openai

from server_harness import Server, model_path

KEY = "test-key-123"
BINARY = None
MODEL = None
SERVER = None


def client(key=KEY):
    return openai.OpenAI(base_url=SERVER.base + "/v1", api_key=key, max_retries=0, timeout=300)


def greedy_completion(c, prompt, max_tokens=64, stream=False):
    r = c.completions.create(model="m", prompt=prompt, max_tokens=max_tokens, temperature=0, stream=stream)
    if not stream:
        return r.choices[0].text, r.choices[0].finish_reason, r.usage
    text, finish = "", None
    for chunk in r:
        if chunk.choices:
            text += chunk.choices[0].text
            finish = chunk.choices[0].finish_reason or finish
    return text, finish, None


def greedy_chat(c, content, max_tokens=64, stream=False):
    msgs = [{"role": "user", "content": content}]
    r = c.chat.completions.create(model="m", messages=msgs, max_tokens=max_tokens, temperature=0, stream=stream,
                                  **({"stream_options": {"include_usage": True}} if stream else {}))
    if not stream:
        return r.choices[0].message.content, r.choices[0].finish_reason, r.usage
    text, finish, usage, roles = "", None, None, []
    for chunk in r:
        if chunk.usage:
            usage = chunk.usage
        for ch in chunk.choices:
            if ch.delta.role:
                roles.append(ch.delta.role)
            text += ch.delta.content or ""
            finish = ch.finish_reason or finish
    assert roles == ["assistant"], roles
    return text, finish, usage


class Endpoints(unittest.TestCase):
    def test_completions_stream_equals_non_stream(self):
        c = client()
        text, finish, usage = greedy_completion(c, "The three primary colors are", 24)
        self.assertEqual(finish, "length")
        self.assertEqual(usage.completion_tokens, 24)
        self.assertGreater(usage.prompt_tokens, 3)
        self.assertEqual(usage.total_tokens, usage.prompt_tokens + 24)
        stext, sfinish, _ = greedy_completion(c, "The three primary colors are", 24, stream=True)
        self.assertEqual(stext, text)
        self.assertEqual(sfinish, "length")

    def test_chat_stream_equals_non_stream_with_usage(self):
        c = client()
        text, finish, usage = greedy_chat(c, "Name a fruit that is yellow.", 40)
        self.assertIn(finish, ("stop", "length"))
        self.assertTrue(text)
        stext, sfinish, susage = greedy_chat(c, "Name a fruit that is yellow.", 40, stream=True)
        self.assertEqual(stext, text)
        self.assertEqual(sfinish, finish)
        self.assertEqual(susage.completion_tokens, usage.completion_tokens)
        self.assertEqual(susage.prompt_tokens, usage.prompt_tokens)

    def test_stop_string_ends_with_stop(self):
        c = client()
        full, _, _ = greedy_completion(c, "Count: one, two, three,", 20)
        r = c.completions.create(model="m", prompt="Count: one, two, three,", max_tokens=20, temperature=0, stop=[","])
        self.assertEqual(r.choices[0].finish_reason, "stop")
        self.assertEqual(r.choices[0].text, full.split(",")[0])
        self.assertNotIn(",", r.choices[0].text)

    def test_sampling_parameters_and_seed(self):
        c = client()
        kw = dict(model="m", prompt="Once upon a time", max_tokens=20, temperature=0.9, top_p=0.9, seed=42,
                  presence_penalty=0.5, frequency_penalty=0.5, extra_body={"top_k": 40, "min_p": 0.05})
        a = c.completions.create(**kw).choices[0].text
        b = c.completions.create(**kw).choices[0].text
        self.assertEqual(a, b, "the same seed gives the same text")
        other = {c.completions.create(**{**kw, "seed": s}).choices[0].text for s in (1, 2, 3, 4)}
        self.assertGreater(len(other | {a}), 1, "different seeds give different texts")

    def test_models_health_metrics(self):
        models = client().models.list()
        self.assertEqual(len(models.data), 1)
        self.assertEqual(SERVER.get("/health")[0], 200)
        m = SERVER.metrics()
        self.assertIn("tinyserve_kv_blocks_total", m)
        self.assertIn('tinyserve_time_to_first_token_seconds_bucket{le="+Inf"}', m)


class Errors(unittest.TestCase):
    def assert_healthy(self):
        self.assertEqual(SERVER.get("/health")[0], 200)

    def expect_400(self, fn, param=None):
        with self.assertRaises(openai.BadRequestError) as cm:
            fn()
        err = cm.exception.body
        self.assertIsInstance(err, dict)
        self.assertTrue(err.get("message"))
        self.assertIn("type", err)
        if param:
            self.assertEqual(err.get("param"), param)
        self.assert_healthy()

    def test_openai_shaped_400s(self):
        c = client()
        self.expect_400(lambda: c.chat.completions.create(model="m", messages=[]), "messages")
        self.expect_400(lambda: c.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=0), "max_tokens")
        self.expect_400(lambda: c.completions.create(model="m", prompt="hi", max_tokens=-5), "max_tokens")
        self.expect_400(lambda: c.completions.create(model="m", prompt="hi", temperature="hot"), "temperature")
        self.expect_400(lambda: c.completions.create(model="m", prompt="hi", top_p=3), "top_p")
        self.expect_400(lambda: c.chat.completions.create(model="m", messages=[{"role": "wizard", "content": "x"}]))
        self.expect_400(lambda: c.chat.completions.create(model="m", messages=[{"role": "user"}]))
        self.expect_400(lambda: c.completions.create(model="m", prompt=123))
        self.expect_400(lambda: c.completions.create(model="m", prompt="word " * 3000, max_tokens=5), "prompt")
        self.expect_400(lambda: c.completions.create(model="m", prompt="hi", max_tokens=100000), "max_tokens")
        self.expect_400(lambda: c.completions.create(model="m", prompt="hi", stop=""), "stop")
        self.expect_400(lambda: c.completions.create(model="m", prompt="hi", n=3), "n")

    def test_raw_bodies(self):
        auth = {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"}
        for body in [b"{not json", b"[1,2]", b"", b"\xff\xfe", b'{"prompt": "x", "max_tokens": "ten"}', b"null",
                     b'{"messages": "hello"}', b'{"messages": [{"role": "user", "content": [{"type": "image"}]}]}']:
            for path in ("/v1/completions", "/v1/chat/completions"):
                status, reply = SERVER.post_raw(path, body, auth)
                self.assertEqual(status, 400, (path, body, reply))
                self.assertIn("error", reply)
                self.assertEqual(set(reply["error"]), {"message", "type", "param", "code"})
        self.assert_healthy()

    def test_auth(self):
        with self.assertRaises(openai.AuthenticationError):
            client("wrong-key").completions.create(model="m", prompt="hi", max_tokens=2)
        status, reply = SERVER.post_raw("/v1/completions", json.dumps({"prompt": "hi"}).encode())
        self.assertEqual(status, 401)
        self.assertEqual(reply["error"]["code"], "invalid_api_key")
        status, _ = SERVER.post_raw("/v1/nothing", b"{}", {"Authorization": "Bearer " + KEY})
        self.assertEqual(status, 404)
        self.assert_healthy()


def stream_text(c, prompt, max_tokens, stop_after=None):
    """Streams a greedy completion; with stop_after, closes the stream after that many chunks."""
    s = c.completions.create(model="m", prompt=prompt, max_tokens=max_tokens, temperature=0, stream=True)
    text, n, finish = "", 0, None
    for chunk in s:
        if chunk.choices:
            text += chunk.choices[0].text
            finish = chunk.choices[0].finish_reason or finish
        n += 1
        if stop_after is not None and n >= stop_after:
            s.close()
            return text, "cancelled"
    return text, finish


def prompts(n):
    topics = ["the sea", "mountains", "a city at night", "coffee", "trains", "the moon", "gardens", "rain"]
    return [f"Here is a short story about {topics[i % len(topics)]} and the number {i}:" for i in range(n)]


class Concurrency(unittest.TestCase):
    def test_32_concurrent_streams_equal_non_streamed(self):
        c = client()
        ps = prompts(32)
        with futures.ThreadPoolExecutor(32) as pool:
            streamed = list(pool.map(lambda p: stream_text(c, p, 64), ps))
        for p, (text, finish) in zip(ps, streamed):
            self.assertIn(finish, ("stop", "length"), p)
            ref, ref_finish, _ = greedy_completion(c, p, 64)
            self.assertEqual(text, ref, f"streamed vs non-streamed for {p!r}")
            self.assertEqual(finish, ref_finish)

    def test_cancel_10_of_50_streams(self):
        c = client()
        before = SERVER.metrics()
        ps = prompts(50)
        cancel = set(range(0, 50, 5))
        with futures.ThreadPoolExecutor(50) as pool:
            results = list(pool.map(lambda i: stream_text(c, ps[i], 64, 4 if i in cancel else None), range(50)))
        for i, (text, finish) in enumerate(results):
            if i in cancel:
                self.assertEqual(finish, "cancelled")
                continue
            ref, ref_finish, _ = greedy_completion(c, ps[i], 64)
            self.assertEqual(text, ref, f"stream {i} was affected by the cancellations")
            self.assertEqual(finish, ref_finish)
        # The pool must come back to fully free (cancelled requests freed within a step or so).
        deadline = time.time() + 10
        while True:
            m = SERVER.metrics()
            if m["tinyserve_kv_blocks_used"] == 0 and m["tinyserve_requests_running"] == 0:
                break
            self.assertLess(time.time(), deadline, f"KV pool not free: {m['tinyserve_kv_blocks_used']} blocks used")
            time.sleep(0.1)
        aborted = m['tinyserve_requests_total{finish_reason="abort"}'] - before['tinyserve_requests_total{finish_reason="abort"}']
        self.assertEqual(aborted, 10)
        self.assertEqual(m["tinyserve_kv_blocks_free"], m["tinyserve_kv_blocks_total"])


def main():
    global BINARY, MODEL, SERVER
    BINARY = sys.argv[1]
    MODEL = sys.argv[2] if len(sys.argv) > 2 else model_path()
    SERVER = Server(BINARY, MODEL, ["--ctx", "1024", "--max-seqs", "32"], api_key=KEY)
    try:
        result = unittest.main(argv=[sys.argv[0], "-v"], exit=False).result
        m = SERVER.metrics()
        print("metrics after the run:", {k: v for k, v in m.items() if "bucket" not in k})
    finally:
        code = SERVER.stop()
    ok = result.wasSuccessful() and code == 0
    if code != 0:
        print(f"tinyserve exited with status {code}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
