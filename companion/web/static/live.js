// Live view: scrolling trace and countdown fed by the /live/ws websocket (see companion/web/live.py).
(() => {
  "use strict";
  const WINDOW_S = 5;            // seconds of trace on screen
  const MM_PER_S = 25, MM_PER_MV = 10;
  const canvas = document.getElementById("trace");
  const ctx = canvas.getContext("2d");
  const el = (id) => document.getElementById(id);
  let fsHz = 0, durationS = 0, received = 0, ring = new Float32Array(0);
  let contacts = [];        // {index, state}: electrode contact changes, marked on the trace
  let linkTrouble = false;  // a "connection lost / reconnecting" status is showing

  function reset(msg) {
    fsHz = msg.fs_hz; durationS = msg.duration_s; received = 0; contacts = []; linkTrouble = false;
    ring = new Float32Array(Math.round(WINDOW_S * fsHz)).fill(NaN);
    el("rate").textContent = `${fsHz} Hz` + (msg.device ? ` · ${msg.device}` : "");
    el("done").hidden = true;
    el("status").textContent = "Recording…";
    document.body.dataset.state = "recording";
    setButton(true);
  }

  function setButton(busy) {
    const button = document.querySelector("#record button");
    if (button) button.disabled = busy;
  }

  function addSamples(msg) {
    if (!fsHz) return;
    const values = msg.mv;
    for (let i = 0; i < values.length; i++) {
      ring[(msg.first_index + i) % ring.length] = values[i];
    }
    received = Math.max(received, msg.first_index + values.length);
    if (linkTrouble) { linkTrouble = false; el("status").textContent = "Recording…"; }
    const elapsed = received / fsHz;
    el("elapsed").textContent = elapsed.toFixed(1);
    el("remaining").textContent = Math.max(0, Math.ceil(durationS - elapsed - 1e-9)).toString();
    document.body.dataset.samples = String(received);
  }

  function resize() {
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(canvas.clientWidth * ratio);
    canvas.height = Math.round(canvas.clientHeight * ratio);
  }

  function draw() {
    const w = canvas.width, h = canvas.height;
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, w, h);
    const pxPerS = w / WINDOW_S, pxPerMm = pxPerS / MM_PER_S;
    for (let mm = 0, x = 0; x <= w; mm++, x = mm * pxPerMm) {
      ctx.strokeStyle = mm % 5 ? "#f7c6cf" : "#e47a8c"; ctx.lineWidth = mm % 5 ? 0.5 : 1;
      ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, h); ctx.stroke();
    }
    for (let mm = 0, y = h; y >= 0; mm++, y = h - mm * pxPerMm) {
      ctx.strokeStyle = mm % 5 ? "#f7c6cf" : "#e47a8c"; ctx.lineWidth = mm % 5 ? 0.5 : 1;
      ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(w, y); ctx.stroke();
    }
    if (received > 0 && ring.length) {
      const n = ring.length, start = Math.max(0, received - n);
      let sum = 0, count = 0;
      for (let i = start; i < received; i++) { const v = ring[i % n]; if (!Number.isNaN(v)) { sum += v; count++; } }
      const mid = count ? sum / count : 0;
      ctx.strokeStyle = "#111"; ctx.lineWidth = 1.5 * (window.devicePixelRatio || 1); ctx.beginPath();
      let pen = false;
      for (let i = start; i < received; i++) {
        const v = ring[i % n];
        if (Number.isNaN(v)) { pen = false; continue; }
        const x = ((i - start) / fsHz) * pxPerS;
        const y = h * 0.55 - (v - mid) * MM_PER_MV * pxPerMm;
        if (pen) ctx.lineTo(x, y); else { ctx.moveTo(x, y); pen = true; }
      }
      ctx.stroke();
      ctx.strokeStyle = "#c2410c"; ctx.fillStyle = "#c2410c"; ctx.setLineDash([6, 4]);
      ctx.font = `${12 * (window.devicePixelRatio || 1)}px system-ui, sans-serif`;
      const rows = {};  // labels at the same sample go one above the other
      for (const c of contacts) {
        if (c.index < start || c.index >= received) continue;
        const x = ((c.index - start) / fsHz) * pxPerS;
        const row = rows[c.index] || 0;
        rows[c.index] = row + 1;
        if (row === 0) { ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, h); ctx.stroke(); }
        const lineH = 16 * (window.devicePixelRatio || 1);
        ctx.fillText(c.state === "lost" ? "contact lost" : "contact regained", x + 4, h - 8 - row * lineH);
      }
      ctx.setLineDash([]);
    }
    window.requestAnimationFrame(draw);
  }

  function finish(msg) {
    const box = el("done");
    box.hidden = false;
    document.body.dataset.state = msg.type;
    setButton(false);
    if (msg.type === "error") {
      box.textContent = msg.message;
      el("status").textContent = "Recording failed";
      return;
    }
    el("remaining").textContent = "0";
    el("status").textContent = "Recording stored";
    box.textContent = "";
    if (msg.recording_id !== null && msg.recording_id !== undefined) {
      const result = document.createElement("p");
      result.className = "verdict-label";
      result.id = "live-result";
      result.textContent = msg.result || "Recording stored";
      const link = document.createElement("a");
      link.className = "button";
      link.href = `/recordings/${msg.recording_id}`;
      link.textContent = `Open recording ${msg.recording_id}: what it means, what to do`;
      const safety = document.createElement("p");
      safety.className = "safety";
      safety.textContent = el("trace").dataset.safety || "";
      box.append(result, link, safety);
      box.scrollIntoView({ behavior: "smooth", block: "nearest" });
    } else {
      box.textContent = "The recording could not be stored.";
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const token = encodeURIComponent(el("trace").dataset.token || "");
    const ws = new WebSocket(`${scheme}://${location.host}/live/ws?t=${token}`);
    ws.onopen = () => { document.body.dataset.ws = "open"; };
    ws.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if (msg.type === "start") reset(msg);
      else if (msg.type === "samples") addSamples(msg);
      else if (msg.type === "status") {
        el("status").textContent = msg.message;
        linkTrouble = /lost|reconnect/i.test(msg.message);
      } else if (msg.type === "contact") {
        contacts.push({ index: msg.sample_index, state: msg.state });
        el("status").textContent = msg.state === "lost"
          ? "Contact lost — keep both fingers on the electrodes" : "Contact back — keep still";
        linkTrouble = msg.state === "lost";
      }
      else if (msg.type === "done" || msg.type === "error") finish(msg);
    };
    ws.onclose = () => { document.body.dataset.ws = "closed"; setTimeout(connect, 1000); };
  }

  const form = document.getElementById("record");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const response = await fetch(form.action, { method: "POST", body: new FormData(form) });
      if (!response.ok) el("status").textContent = await response.text();
    });
  }
  window.addEventListener("resize", resize);
  resize(); connect(); window.requestAnimationFrame(draw);
})();
