// The chat page served at "/": plain HTML and JavaScript, no external resources, streaming
// replies from /v1/chat/completions and showing time to first token and tokens per second.
#include "server/http_server.h"

namespace ts {

const std::string& chat_page_html() {
  static const std::string page = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tinyserve chat</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2330; }
  header { background: #1d2330; color: #fff; padding: 10px 16px; display: flex; gap: 16px; align-items: center; flex-wrap: wrap; }
  header h1 { font-size: 18px; margin: 0 12px 0 0; }
  header label { font-size: 13px; }
  header input { width: 70px; }
  #key { width: 140px; }
  #log { max-width: 860px; margin: 16px auto; padding: 0 12px 140px; }
  .msg { border-radius: 8px; padding: 10px 14px; margin: 10px 0; white-space: pre-wrap; line-height: 1.4; }
  .user { background: #dbe7ff; margin-left: 15%; }
  .assistant { background: #fff; margin-right: 15%; border: 1px solid #d8dce3; }
  .stats { font-size: 12px; color: #5b6475; margin-top: 6px; }
  .error { background: #ffe3e3; border: 1px solid #f0a0a0; }
  form { position: fixed; bottom: 0; left: 0; right: 0; background: #fff; border-top: 1px solid #d8dce3; padding: 10px; }
  form div { max-width: 860px; margin: 0 auto; display: flex; gap: 8px; }
  textarea { flex: 1; height: 56px; font: inherit; padding: 6px; }
  button { padding: 0 18px; font: inherit; }
</style>
</head>
<body>
<header>
  <h1>tinyserve</h1>
  <span id="model">model: …</span>
  <label>max tokens <input id="max_tokens" type="number" value="256" min="1"></label>
  <label>temperature <input id="temperature" type="number" value="0.7" step="0.1" min="0" max="2"></label>
  <label>API key <input id="key" type="password" placeholder="(none)"></label>
  <button id="clear" type="button">New chat</button>
</header>
<div id="log"></div>
<form id="form">
  <div>
    <textarea id="prompt" placeholder="Say something… (Enter sends, Shift+Enter for a new line)"></textarea>
    <button id="send" type="submit">Send</button>
  </div>
</form>
<script>
const log = document.getElementById('log');
const form = document.getElementById('form');
const promptBox = document.getElementById('prompt');
const sendButton = document.getElementById('send');
const keyBox = document.getElementById('key');
keyBox.value = localStorage.getItem('tinyserve-key') || '';
keyBox.addEventListener('change', () => localStorage.setItem('tinyserve-key', keyBox.value));
let history = [];

function headers() {
  const h = {'Content-Type': 'application/json'};
  if (keyBox.value) h['Authorization'] = 'Bearer ' + keyBox.value;
  return h;
}

fetch('/v1/models', {headers: headers()}).then(r => r.json()).then(j => {
  if (j.data && j.data.length) document.getElementById('model').textContent = 'model: ' + j.data[0].id;
}).catch(() => {});

function bubble(role, text) {
  const div = document.createElement('div');
  div.className = 'msg ' + role;
  const body = document.createElement('div');
  body.className = 'text';
  body.textContent = text;
  div.appendChild(body);
  log.appendChild(div);
  window.scrollTo(0, document.body.scrollHeight);
  return div;
}

document.getElementById('clear').addEventListener('click', () => { history = []; log.innerHTML = ''; });
promptBox.addEventListener('keydown', e => {
  if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
});

form.addEventListener('submit', async e => {
  e.preventDefault();
  const text = promptBox.value.trim();
  if (!text) return;
  promptBox.value = '';
  sendButton.disabled = true;
  history.push({role: 'user', content: text});
  bubble('user', text);
  const reply = bubble('assistant', '');
  const body = reply.querySelector('.text');
  const stats = document.createElement('div');
  stats.className = 'stats';
  reply.appendChild(stats);
  const t0 = performance.now();
  let tFirst = 0, chunks = 0, answer = '', usage = null, finish = '';
  try {
    const res = await fetch('/v1/chat/completions', {
      method: 'POST', headers: headers(),
      body: JSON.stringify({messages: history, stream: true, stream_options: {include_usage: true},
                            max_tokens: Number(document.getElementById('max_tokens').value),
                            temperature: Number(document.getElementById('temperature').value)})
    });
    if (!res.ok) {
      const err = await res.json().catch(() => ({error: {message: res.statusText}}));
      throw new Error(err.error ? err.error.message : res.statusText);
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!event.startsWith('data: ')) continue;
        const data = event.slice(6);
        if (data === '[DONE]') continue;
        const j = JSON.parse(data);
        if (j.usage) usage = j.usage;
        for (const c of j.choices || []) {
          const piece = (c.delta && c.delta.content) || '';
          if (piece) {
            if (!tFirst) tFirst = performance.now();
            chunks++;
            answer += piece;
            body.textContent = answer;
            window.scrollTo(0, document.body.scrollHeight);
          }
          if (c.finish_reason) finish = c.finish_reason;
        }
      }
    }
    const tEnd = performance.now();
    const tokens = usage ? usage.completion_tokens : chunks;
    const rate = tokens > 1 && tEnd > tFirst ? (tokens - 1) / ((tEnd - tFirst) / 1000) : 0;
    stats.textContent = `TTFT ${tFirst ? Math.round(tFirst - t0) : '-'} ms · ${rate.toFixed(1)} tok/s · ` +
                        `${tokens} tokens · finish: ${finish}`;
    history.push({role: 'assistant', content: answer});
  } catch (err) {
    reply.classList.add('error');
    body.textContent = 'Error: ' + err.message;
    history.pop();
  }
  sendButton.disabled = false;
  promptBox.focus();
});
</script>
</body>
</html>
)HTML";
  return page;
}

}  // namespace ts
