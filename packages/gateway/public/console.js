const $ = (id) => document.getElementById(id);
let ws, room, people = new Map(), counter = 0;
function setStatus(text) { $('status').textContent = text; }
function addLine(who, text, ts) {
  const li = document.createElement('li');
  const meta = document.createElement('div'); meta.className = 'meta';
  meta.textContent = `${who} · ${new Date(ts ?? Date.now()).toLocaleTimeString()}`;
  const body = document.createElement('div'); body.textContent = text;
  li.append(meta, body); $('log').append(li); $('log').scrollTop = $('log').scrollHeight;
}
function renderPeople() {
  $('people').replaceChildren(...[...people.values()].map((m) => {
    const li = document.createElement('li'); li.textContent = `${m.name} (${m.role})`; return li;
  }));
}
$('join').addEventListener('submit', async (event) => {
  event.preventDefault();
  room = $('roomName').value;
  const response = await fetch('/dev/token', { method: 'POST', body: JSON.stringify({ name: $('name').value, role: $('role').value, rooms: [room] }) });
  if (!response.ok) { setStatus(`token refused: ${response.status}`); return; }
  const { token } = await response.json();
  ws = new WebSocket(`${location.origin.replace('http', 'ws')}/ws?token=${encodeURIComponent(token)}`);
  setStatus('connecting…');
  ws.onopen = () => ws.send(JSON.stringify({ action: 'join', room, id: 'join' }));
  ws.onclose = (e) => setStatus(`closed (${e.code})`);
  ws.onmessage = (e) => {
    const f = JSON.parse(e.data);
    if (f.type === 'joined') {
      setStatus(`connected to ${f.room}`);
      people = new Map(f.presence.map((m) => [m.userId, m])); renderPeople();
      $('join').classList.add('hidden'); $('classroom').classList.remove('hidden'); $('text').focus();
    } else if (f.type === 'message' && f.event === 'chat.message') addLine(f.from.name, String(f.data?.text ?? ''), f.ts);
    else if (f.type === 'presence') { if (f.action === 'join') people.set(f.member.userId, f.member); else people.delete(f.member.userId); renderPeople(); }
    else if (f.type === 'error') addLine('error', `${f.code}: ${f.message}`);
  };
});
$('chat').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = $('text').value.trim();
  if (!text || ws?.readyState !== WebSocket.OPEN) return;
  ws.send(JSON.stringify({ action: 'publish', room, event: 'chat.message', data: { text }, id: `m${Date.now()}-${++counter}` }));
  $('text').value = '';
});
