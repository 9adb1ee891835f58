"""Starts `tinyserve serve` on a free port for the serving tests and stops it afterwards."""
import json
import os
import re
import subprocess
import sys
import time
import urllib.request


class Server:
    def __init__(self, binary, model, extra=(), api_key=None):
        args = [binary, "serve", "-m", model, "--port", "0", "-t", "2", *extra]
        if api_key:
            args += ["--api-key", api_key]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.port = None
        deadline = time.time() + 120
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"tinyserve exited before listening (status {self.proc.poll()})")
            sys.stderr.write("[server] " + line)
            m = re.search(r"on http://[^:]+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            raise RuntimeError("tinyserve did not report its port")
        self.base = f"http://127.0.0.1:{self.port}"
        self.api_key = api_key

    def get(self, path):
        with urllib.request.urlopen(self.base + path, timeout=30) as r:
            return r.status, r.read().decode()

    def post_raw(self, path, body, headers=None):
        """POST bytes as given; returns (status, parsed JSON body or text)."""
        req = urllib.request.Request(self.base + path, data=body, method="POST", headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, text = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def metrics(self):
        out = {}
        for line in self.get("/metrics")[1].splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise RuntimeError("tinyserve did not stop within 20 s of SIGTERM")
        rest = self.proc.stdout.read()
        if rest:
            sys.stderr.write("[server] " + rest.replace("\n", "\n[server] ") + "\n")
        return self.proc.returncode


def model_path():
    base = os.environ.get("TINYSERVE_MODELS", os.path.join(os.path.expanduser("~"), ".cache", "tinyserve"))
    return os.path.join(base, "SmolLM2-135M-Instruct.Q4_1.gguf")
