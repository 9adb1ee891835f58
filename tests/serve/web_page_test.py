"""The chat page in headless Chromium (Debian's chromium driven by Playwright): send a message,
watch the reply stream in, check the TTFT and tok/s line, and keep a screenshot.

Usage: web_page_test.py TINYSERVE_BINARY SCREENSHOT.png [MODEL.gguf]
"""
import sys

from playwright.sync_api import sync_playwright

from server_harness import Server, model_path


def main():
    binary, shot = sys.argv[1], sys.argv[2]
    model = sys.argv[3] if len(sys.argv) > 3 else model_path()
    server = Server(binary, model, ["--ctx", "1024", "--max-seqs", "4"])
    failures = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                        args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1000, "height": 700})
            page.goto(server.base + "/")
            page.wait_for_function("document.getElementById('model').textContent.includes('SmolLM2')", timeout=10000)
            page.fill("#max_tokens", "48")
            page.fill("#prompt", "Write two sentences about the ocean.")
            page.press("#prompt", "Enter")
            page.wait_for_selector(".assistant .stats:has-text('tok/s')", timeout=120000)
            reply = page.inner_text(".assistant .text")
            stats = page.inner_text(".assistant .stats")
            print("reply:", reply)
            print("stats:", stats)
            if len(reply.strip()) < 10:
                failures.append(f"reply too short: {reply!r}")
            if "TTFT" not in stats or "tok/s" not in stats:
                failures.append(f"no TTFT / tok/s line: {stats!r}")
            # A second turn keeps the conversation and streams again.
            page.fill("#prompt", "Now one sentence about mountains.")
            page.press("#prompt", "Enter")
            page.wait_for_function("document.querySelectorAll('.assistant .stats').length == 2 && "
                                   "document.querySelectorAll('.assistant .stats')[1].textContent.includes('tok/s')",
                                   timeout=120000)
            if page.locator(".msg.user").count() != 2:
                failures.append("the first turn was lost")
            page.screenshot(path=shot, full_page=True)
            print("screenshot:", shot)
            browser.close()
        health = server.get("/health")[0]
        if health != 200:
            failures.append(f"/health {health} after the page test")
    finally:
        code = server.stop()
    if code != 0:
        failures.append(f"tinyserve exited with status {code}")
    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
