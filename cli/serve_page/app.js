/* tt serve's sampling explorer: streams a completion with logprobs into
 * #output and draws the next-token distribution of POST v1/distribution into
 * #dist as plain SVG (no library, no network beyond this server).
 *
 * State flow (body[data-state]): loading -> idle (the prompt's distribution
 * is drawn) -> generating -> done (text complete, its distribution drawn),
 * or error. The test (tests/test_serve_page.c) waits for done. */
(function () {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const SVGNS = 'http://www.w3.org/2000/svg';
  const TOP_BARS = 40;   /* bars shown by the model's probability ... */
  const EXTRA_BARS = 24; /* ... and kept tokens beyond them, at most */

  /* Controls: the exact values live here, the sliders show them (a range
   * input snaps to its step; a shared link must reproduce exactly). */
  const SLIDERS = {
    temperature: { def: 1, fmt: (v) => (v === 0 ? '0 (greedy)' : v.toFixed(2)) },
    top_k: { def: 0, fmt: (v) => (v === 0 ? 'off' : String(v)), int: true },
    top_p: { def: 1, fmt: (v) => (v >= 1 ? 'off' : v.toFixed(2)) },
    min_p: { def: 0, fmt: (v) => (v === 0 ? 'off' : v.toFixed(2)) },
    repetition_penalty: { def: 1, fmt: (v) => (v === 1 ? 'off' : v.toFixed(2)) },
  };
  const PRESETS = {
    greedy: { temperature: 0, top_k: 0, top_p: 1, min_p: 0, repetition_penalty: 1 },
    plain: { temperature: 1, top_k: 0, top_p: 1, min_p: 0, repetition_penalty: 1 },
    focused: { temperature: 0.7, top_k: 0, top_p: 0.9, min_p: 0, repetition_penalty: 1.1 },
    wild: { temperature: 1.6, top_k: 0, top_p: 1, min_p: 0, repetition_penalty: 1 },
  };
  const settings = { temperature: 1, top_k: 0, top_p: 1, min_p: 0, repetition_penalty: 1 };

  const state = {
    model: null,
    gen: null,        /* {prompt, tokens: [{text, logprob, top}], finish} */
    position: 0,
    chosenId: null,
    abort: null,      /* the running generation's AbortController */
    distSeq: 0,
    distTimer: 0,
    dist: null,
    chosenText: null, /* the token written at the chart's position */
  };

  /* ---- small helpers ---------------------------------------------------- */

  function show(t) {
    if (t === '\n') return '↵';
    if (t === ' ') return '␣';
    if (t === '\t') return '⇥';
    if (t === '') return '∅';
    return t;
  }
  function speak(t) {
    if (t === '\n') return 'newline';
    if (t === ' ') return 'space';
    if (t === '\t') return 'tab';
    return '"' + t + '"';
  }
  function pct(p) {
    if (p >= 0.995) return (100 * p).toFixed(1) + '%';
    if (p >= 0.001) return (100 * p).toFixed(1) + '%';
    if (p > 0) return '<0.1%';
    return '0%';
  }
  function bits(nats) { return (nats / Math.LN2).toFixed(2); }
  /* shade of a generated token by its surprisal (-log2 p): none when
   * certain, full orange from 5 bits (p <= 3%) on */
  let shadeRgb = '245, 124, 0', shadeMax = 0.85; /* style.css: --shade-rgb, --shade-max */
  function shade(p) {
    const surprisal = p > 0 ? -Math.log2(Math.min(1, p)) : 5;
    const a = shadeMax * Math.min(1, surprisal / 5);
    return 'rgba(' + shadeRgb + ', ' + a.toFixed(3) + ')';
  }
  function setState(s) { document.body.dataset.state = s; }
  function setStatus(text, isError) {
    const el = $('status');
    el.textContent = text;
    el.classList.toggle('error', !!isError);
  }
  function headers() {
    const h = { 'Content-Type': 'application/json' };
    const key = $('api_key').value.trim();
    if (key) h.Authorization = 'Bearer ' + key;
    return h;
  }
  async function errorOf(res) {
    let msg = 'HTTP ' + res.status;
    try {
      const j = await res.json();
      if (j && j.error && j.error.message) msg = j.error.message + (j.error.param ? ' (' + j.error.param + ')' : '');
    } catch (e) { /* not JSON */ }
    if (res.status === 401) {
      $('api-key-box').hidden = false;
      msg = 'This server needs an API key: enter it under Settings. (' + msg + ')';
    }
    return msg;
  }

  /* ---- controls ----------------------------------------------------------- */

  function renderValue(name) {
    const text = SLIDERS[name].fmt(settings[name]);
    $(name + '-value').textContent = text;
    $(name).setAttribute('aria-valuetext', text);
  }
  function renderControl(name) {
    $(name).value = String(settings[name]);
    renderValue(name);
  }
  function renderControls() { Object.keys(SLIDERS).forEach(renderControl); }

  function requestSettings() {
    const s = {
      temperature: settings.temperature,
      top_k: settings.top_k,
      top_p: settings.top_p,
      min_p: settings.min_p,
    };
    if (settings.repetition_penalty !== 1) s.repetition_penalty = settings.repetition_penalty;
    if (state.model) s.model = state.model;
    return s;
  }
  function intField(id, fallback) {
    const v = Number($(id).value);
    return Number.isInteger(v) ? v : fallback;
  }

  function linkFor(autorun) {
    const u = new URL(location.href);
    u.search = '';
    const q = u.searchParams;
    q.set('prompt', $('prompt').value);
    Object.keys(SLIDERS).forEach((k) => {
      if (k !== 'repetition_penalty' || settings[k] !== 1) q.set(k, String(settings[k]));
    });
    q.set('seed', $('seed').value);
    q.set('max_tokens', $('max_tokens').value);
    if (autorun) q.set('autorun', '1');
    return u.toString();
  }

  function applyQuery() {
    const q = new URLSearchParams(location.search);
    if (q.has('prompt')) $('prompt').value = q.get('prompt');
    Object.keys(SLIDERS).forEach((k) => {
      if (!q.has(k)) return;
      const v = Number(q.get(k));
      if (Number.isFinite(v)) settings[k] = v;
    });
    if (q.has('seed')) $('seed').value = q.get('seed');
    if (q.has('max_tokens')) $('max_tokens').value = q.get('max_tokens');
    return q.get('autorun') === '1';
  }

  /* ---- the text ----------------------------------------------------------- */

  function clearOutput(prompt) {
    const out = $('output');
    out.textContent = '';
    const p = document.createElement('span');
    p.className = 'prompt';
    p.textContent = prompt;
    out.appendChild(p);
  }

  function addToken(text, logprob, top) {
    const g = state.gen;
    const i = g.tokens.length;
    const t = { text: text, logprob: logprob, top: top };
    g.tokens.push(t);
    const span = document.createElement('span');
    span.className = 'tok';
    span.dataset.i = String(i);
    span.textContent = text;
    if (logprob !== null && logprob !== undefined) {
      const p = Math.exp(logprob);
      span.style.backgroundColor = shade(p);
      span.dataset.p = p.toFixed(6);
    }
    $('output').appendChild(span);
  }

  function tokenSpan(i) { return $('output').querySelector('.tok[data-i="' + i + '"]'); }

  function alternatives(t) {
    const rows = [];
    if (t.top) for (const k of Object.keys(t.top)) rows.push({ text: k, p: Math.exp(t.top[k]) });
    rows.sort((a, b) => b.p - a.p);
    if (t.logprob !== null && t.logprob !== undefined && !rows.some((r) => r.text === t.text))
      rows.push({ text: t.text, p: Math.exp(t.logprob) });
    return rows;
  }

  function tooltipForToken(i, anchor) {
    const t = state.gen && state.gen.tokens[i];
    if (!t) return hideTooltip();
    const tip = $('tooltip');
    tip.textContent = '';
    const head = document.createElement('div');
    const p = t.logprob === null || t.logprob === undefined ? null : Math.exp(t.logprob);
    head.textContent = 'Token ' + (i + 1) + ': ' + speak(t.text) + (p === null ? '' : ' · ' + pct(p));
    tip.appendChild(head);
    const rows = alternatives(t);
    if (rows.length) {
      const table = document.createElement('table');
      for (const r of rows) {
        const tr = document.createElement('tr');
        if (r.text === t.text) tr.className = 'chosen';
        const a = document.createElement('td');
        a.textContent = show(r.text);
        const b = document.createElement('td');
        b.className = 'p';
        b.textContent = pct(r.p);
        const c = document.createElement('td');
        const bar = document.createElement('span');
        bar.className = 'mini';
        bar.style.width = Math.max(1, Math.round(60 * r.p)) + 'px';
        c.appendChild(bar);
        tr.append(a, b, c);
        table.appendChild(tr);
      }
      tip.appendChild(table);
    }
    placeTooltip(anchor);
  }

  function placeTooltip(anchor) {
    const tip = $('tooltip');
    tip.hidden = false;
    const r = anchor.getBoundingClientRect();
    const w = tip.offsetWidth, h = tip.offsetHeight;
    let x = r.left + r.width / 2 - w / 2, y = r.bottom + 6;
    if (y + h > window.innerHeight - 4) y = r.top - h - 6;
    x = Math.max(4, Math.min(window.innerWidth - w - 4, x));
    tip.style.left = x + 'px';
    tip.style.top = Math.max(4, y) + 'px';
  }
  function hideTooltip() { $('tooltip').hidden = true; }

  /* ---- generation ------------------------------------------------------- */

  async function generate() {
    if (state.abort) state.abort.abort();
    const ctl = new AbortController();
    state.abort = ctl;
    const prompt = $('prompt').value;
    state.gen = { prompt: prompt, tokens: [], finish: null };
    state.position = 0;
    clearOutput(prompt);
    updatePositionControl();
    hideTooltip();
    if (!prompt) {
      setStatus('Type a prompt first.', true);
      setState('error');
      return;
    }
    history.replaceState(null, '', linkFor(false));
    setState('generating');
    setStatus('Generating…');
    $('generate').disabled = true;
    $('stop').disabled = false;
    const body = Object.assign(requestSettings(), {
      prompt: prompt,
      max_tokens: intField('max_tokens', 100),
      seed: intField('seed', 42),
      stream: true,
      logprobs: 5,
    });
    const t0 = performance.now();
    let failed = null;
    try {
      const res = await fetch('v1/completions', {
        method: 'POST', headers: headers(), body: JSON.stringify(body), signal: ctl.signal,
      });
      if (!res.ok) {
        failed = await errorOf(res);
      } else {
        failed = await readStream(res, ctl);
      }
    } catch (e) {
      failed = e.name === 'AbortError' ? 'stopped' : 'The server did not answer: ' + e.message;
    }
    if (state.abort !== ctl) return; /* a newer generation took over */
    state.abort = null;
    $('generate').disabled = false;
    $('stop').disabled = true;
    const n = state.gen.tokens.length;
    updatePositionControl();
    if (failed && failed !== 'stopped') {
      setStatus(failed, true);
      setState('error');
      return;
    }
    const secs = ((performance.now() - t0) / 1000).toFixed(2);
    setStatus((failed === 'stopped' ? 'Stopped after ' : 'Wrote ') + n + ' token' + (n === 1 ? '' : 's') +
              ' in ' + secs + ' s' + (state.gen.finish ? ' (finish: ' + state.gen.finish + ')' : '') +
              '. Click a token to see the distribution it was drawn from.');
    await selectPosition(0, true);
    setState('done');
  }

  /* Reads server-sent events; returns null, or an error message. */
  async function readStream(res, ctl) {
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let cut;
      while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
        const event = buf.slice(0, cut);
        buf = buf.slice(cut).replace(/^\r?\n\r?\n/, '');
        for (const line of event.split(/\r?\n/)) {
          if (!line.startsWith('data:')) continue;
          const data = line.slice(5).trim();
          if (data === '[DONE]') return null;
          let chunk;
          try { chunk = JSON.parse(data); } catch (e) { return 'The server sent a malformed event.'; }
          if (chunk.error) return chunk.error.message || 'The server reported an error.';
          takeChunk(chunk);
        }
      }
      if (ctl.signal.aborted) return 'stopped';
    }
    return null;
  }

  function takeChunk(chunk) {
    const ch = chunk.choices && chunk.choices[0];
    if (!ch) return;
    const lp = ch.logprobs;
    const text = ch.text || '';
    if (lp && Array.isArray(lp.tokens) && lp.tokens.length && lp.tokens.join('') === text) {
      lp.tokens.forEach((t, i) => addToken(t, lp.token_logprobs ? lp.token_logprobs[i] : null,
                                           lp.top_logprobs ? lp.top_logprobs[i] : null));
    } else if (text) {
      /* no per-token logprobs for this chunk: one character a token */
      for (const c of Array.from(text)) addToken(c, null, null);
    }
    if (ch.finish_reason) state.gen.finish = ch.finish_reason;
    const out = $('output');
    out.scrollTop = out.scrollHeight;
    const n = state.gen.tokens.length;
    $('position').max = String(n);
  }

  /* ---- positions -------------------------------------------------------- */

  function updatePositionControl() {
    const n = state.gen ? state.gen.tokens.length : 0;
    const pos = $('position');
    pos.max = String(n);
    pos.value = String(Math.min(state.position, n));
    $('pos-prev').disabled = state.position <= 0;
    $('pos-next').disabled = state.position >= n;
    let label;
    if (!state.gen || n === 0) {
      label = 'the token after the prompt';
    } else if (state.position < n) {
      label = 'token ' + (state.position + 1) + ' of ' + n + ' (written: ' + speak(state.gen.tokens[state.position].text) + ')';
    } else {
      label = 'the token after the whole text';
    }
    $('position-label').textContent = label;
    pos.setAttribute('aria-valuetext', label);
    $('output').querySelectorAll('.tok.selected').forEach((el) => el.classList.remove('selected'));
    const sel = tokenSpan(state.position);
    if (sel) sel.classList.add('selected');
  }

  async function selectPosition(i, now) {
    const n = state.gen ? state.gen.tokens.length : 0;
    state.position = Math.max(0, Math.min(n, i));
    updatePositionControl();
    if (now) return updateDist();
    scheduleDist();
  }

  /* ---- the distribution ------------------------------------------------- */

  function scheduleDist() {
    clearTimeout(state.distTimer);
    state.distTimer = setTimeout(updateDist, 60);
  }

  async function updateDist() {
    clearTimeout(state.distTimer);
    const seq = ++state.distSeq;
    const g = state.gen;
    const prompt = g ? g.prompt : $('prompt').value;
    if (!prompt) {
      $('dist-summary').textContent = 'Type a prompt to see the distribution of its next token.';
      $('dist').textContent = '';
      return;
    }
    const cont = g ? g.tokens.slice(0, state.position).map((t) => t.text).join('') : '';
    state.chosenId = null;
    const chosen = g && state.position < g.tokens.length ? g.tokens[state.position].text : null;
    const body = Object.assign(requestSettings(), { prompt: prompt, continuation: cont });
    let d;
    try {
      const res = await fetch('v1/distribution', { method: 'POST', headers: headers(), body: JSON.stringify(body) });
      if (seq !== state.distSeq) return;
      if (!res.ok) {
        $('dist-summary').textContent = await errorOf(res);
        return;
      }
      d = await res.json();
    } catch (e) {
      if (seq === state.distSeq) $('dist-summary').textContent = 'The server did not answer: ' + e.message;
      return;
    }
    if (seq !== state.distSeq) return;
    state.dist = d;
    state.chosenText = chosen;
    if ($('top_k').max !== String(d.vocab_size)) {
      $('top_k').max = String(d.vocab_size);
      renderControl('top_k');
    }
    drawDist(d, chosen);
  }

  function niceMax(v) {
    const steps = [0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 0.75, 1];
    for (const s of steps) if (v <= s) return s;
    return 1;
  }

  function drawDist(d, chosenText) {
    const toks = d.tokens;
    /* the drawing is as wide as its box, so labels keep their size; a narrow
     * screen shows fewer bars (at least 12 px each) */
    const W = Math.max(320, Math.round($('dist').clientWidth || 900)), H = 300;
    const nTop = Math.max(10, Math.min(TOP_BARS, Math.floor((W - 54) / 18)));
    let shown = toks.slice(0, nTop);
    const extra = toks.slice(nTop).filter((t) => (t.kept && t.prob_final > 0) || t.text === chosenText);
    shown = shown.concat(extra.slice(0, Math.min(EXTRA_BARS, nTop)));
    const height = (t) => (t.kept ? t.prob_final : t.prob_scaled);
    let top = 0;
    for (const t of shown) top = Math.max(top, height(t), t.prob);

    const ml = 46, mr = 8, mt = 14, mb = 40;
    const pw = W - ml - mr, ph = H - mt - mb;
    const bw = pw / Math.max(1, shown.length);
    /* linear from 0 to a round maximum, or log10 from 1e-4 (the tail) to 1 */
    const log = $('log-scale').checked;
    const ymax = log ? 1 : niceMax(top);
    const LOG_MIN = 1e-4;
    const frac = log ? (p) => (p <= LOG_MIN ? 0 : (Math.log10(p) - Math.log10(LOG_MIN)) / -Math.log10(LOG_MIN))
                     : (p) => p / ymax;
    const y = (p) => mt + ph * (1 - Math.min(1, frac(p)));
    const ticks = log ? [LOG_MIN, 1e-3, 1e-2, 1e-1, 1] : [0, 0.25, 0.5, 0.75, 1].map((f) => f * ymax);
    const svg = document.createElementNS(SVGNS, 'svg');
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.setAttribute('aria-hidden', 'true');
    const el = (name, attrs, parent) => {
      const e = document.createElementNS(SVGNS, name);
      for (const k of Object.keys(attrs)) e.setAttribute(k, String(attrs[k]));
      (parent || svg).appendChild(e);
      return e;
    };
    for (const v of ticks) {
      el('line', { class: 'grid', x1: ml, x2: W - mr, y1: y(v), y2: y(v) });
      const lab = el('text', { x: ml - 6, y: y(v) + 4, 'text-anchor': 'end' });
      lab.textContent = (v < 0.01 ? String(Math.round(v * 1e5) / 1e3) : String(Math.round(v * 1000) / 10)) + '%';
    }
    shown.forEach((t, i) => {
      const x = ml + i * bw;
      const h = height(t);
      const g = el('g', {});
      const bar = el('rect', {
        class: 'bar ' + (t.kept ? 'kept' : 'cut'),
        x: x + bw * 0.12, width: Math.max(1, bw * 0.76),
        y: y(h), height: Math.max(0, y(0) - y(h)),
        'data-id': t.id,
      }, g);
      bar.addEventListener('mouseenter', () => tooltipForBar(t, bar));
      bar.addEventListener('mouseleave', hideTooltip);
      el('line', { class: 'raw', x1: x + bw * 0.05, x2: x + bw * 0.95, y1: y(t.prob), y2: y(t.prob) }, g);
      const isChosen = chosenText !== null && t.text === chosenText;
      const lab = el('text', {
        class: 'label' + (isChosen ? ' chosen' : ''), x: x + bw / 2, y: H - mb + 16, 'text-anchor': 'middle',
      }, g);
      lab.textContent = show(t.text);
      if (isChosen) {
        state.chosenId = t.id;
        const cx = x + bw / 2, cy = H - mb + 22;
        el('path', { class: 'chosen-mark', d: 'M' + cx + ' ' + cy + ' l-5 8 h10 z' }, g);
      }
    });
    el('line', { class: 'axis', x1: ml, x2: W - mr, y1: y(0), y2: y(0) });
    const box = $('dist');
    box.textContent = '';
    box.appendChild(svg);
    box.dataset.nKept = String(d.n_kept); /* for tests and curious readers */
    box.dataset.position = String(d.position);

    const keptAll = toks.filter((t) => t.kept && t.prob_final > 0).length;
    const keptShown = shown.filter((t) => t.kept && t.prob_final > 0).length;
    let shownNote = '';
    if (shown.length < d.vocab_size)
      shownNote = ' The chart shows ' + shown.length + ' of them: the most probable' +
        (keptShown === keptAll ? ', and every kept one.' : '.');
    $('dist-summary').textContent =
      'The sampler keeps ' + d.n_kept + ' of ' + d.vocab_size + ' tokens. Entropy: ' + bits(d.entropy_raw) +
      ' bits for the model, ' + bits(d.entropy) + ' bits after your settings.' + shownNote;
    const best = toks.filter((t) => t.kept).sort((a, b) => b.prob_final - a.prob_final).slice(0, 5);
    box.setAttribute('aria-label', 'Next-token distribution: ' + d.n_kept + ' of ' + d.vocab_size +
      ' tokens kept; most probable: ' + best.map((t) => speak(t.text) + ' ' + pct(t.prob_final)).join(', '));
  }

  function tooltipForBar(t, anchor) {
    const tip = $('tooltip');
    tip.textContent = '';
    const lines = [
      'Token ' + speak(t.text) + ' (id ' + t.id + ')',
      'The model: ' + pct(t.prob),
      'After penalty and temperature: ' + pct(t.prob_scaled),
      t.kept ? 'The sampler draws it with: ' + pct(t.prob_final) : 'Cut by top-k, top-p or min-p',
    ];
    for (const l of lines) {
      const div = document.createElement('div');
      div.textContent = l;
      tip.appendChild(div);
    }
    placeTooltip(anchor);
  }

  /* ---- wiring ------------------------------------------------------------ */

  function wire() {
    Object.keys(SLIDERS).forEach((k) => {
      $(k).addEventListener('input', () => {
        const v = Number($(k).value);
        settings[k] = SLIDERS[k].int ? Math.round(v) : v;
        renderValue(k);
        scheduleDist();
      });
    });
    document.querySelectorAll('[data-preset]').forEach((b) => {
      b.addEventListener('click', () => {
        Object.assign(settings, PRESETS[b.dataset.preset]);
        renderControls();
        scheduleDist();
      });
    });
    $('controls').addEventListener('submit', (e) => {
      e.preventDefault();
      generate();
    });
    $('prompt').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        generate();
      }
    });
    $('prompt').addEventListener('input', () => {
      if (state.gen && !state.abort) {
        state.gen = null; /* the text no longer follows this prompt */
        clearOutput('');
        state.position = 0;
        updatePositionControl();
        setStatus('');
      }
      scheduleDist();
    });
    $('stop').addEventListener('click', () => { if (state.abort) state.abort.abort(); });
    $('copy-link').addEventListener('click', async () => {
      const link = linkFor(true);
      $('link-box').hidden = false;
      $('link').value = link;
      $('link').select();
      try {
        await navigator.clipboard.writeText(link);
        setStatus('Link copied: it reproduces this generation.');
      } catch (e) {
        setStatus('Copy the link below: it reproduces this generation.');
      }
    });
    $('api_key').addEventListener('change', () => {
      try { sessionStorage.setItem('tt-api-key', $('api_key').value); } catch (e) { /* private mode */ }
      if (!state.model) loadModel();
      scheduleDist();
    });
    const redraw = () => { if (state.dist) drawDist(state.dist, state.chosenText); };
    $('log-scale').addEventListener('change', redraw);
    let resizeTimer = 0;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(redraw, 100);
    });
    $('position').addEventListener('input', () => selectPosition(Number($('position').value)));
    $('pos-prev').addEventListener('click', () => selectPosition(state.position - 1));
    $('pos-next').addEventListener('click', () => selectPosition(state.position + 1));

    const out = $('output');
    out.addEventListener('mouseover', (e) => {
      const s = e.target.closest('.tok');
      if (s) tooltipForToken(Number(s.dataset.i), s);
    });
    out.addEventListener('mouseout', (e) => { if (e.target.closest('.tok')) hideTooltip(); });
    out.addEventListener('click', (e) => {
      const s = e.target.closest('.tok');
      if (s) selectPosition(Number(s.dataset.i));
    });
    out.addEventListener('keydown', (e) => {
      if (!state.gen || !state.gen.tokens.length) return;
      const n = state.gen.tokens.length;
      let i = state.position;
      if (e.key === 'ArrowRight') i++;
      else if (e.key === 'ArrowLeft') i--;
      else if (e.key === 'Home') i = 0;
      else if (e.key === 'End') i = n - 1;
      else return;
      e.preventDefault();
      i = Math.max(0, Math.min(n - 1, i));
      selectPosition(i);
      const s = tokenSpan(i);
      if (s) {
        tooltipForToken(i, s);
        s.scrollIntoView({ block: 'nearest' });
        const t = state.gen.tokens[i];
        $('sr-live').textContent = 'Token ' + (i + 1) + ': ' + speak(t.text) +
          (t.logprob === null || t.logprob === undefined ? '' : ', ' + pct(Math.exp(t.logprob)));
      }
    });
    out.addEventListener('blur', hideTooltip);

    const scale = $('scale');
    [1, 0.5, 0.25, 0.1, 0.03].forEach((p) => {
      const s = document.createElement('span');
      s.style.backgroundColor = shade(p);
      s.title = pct(p);
      scale.appendChild(s);
    });
  }

  async function loadModel() {
    try {
      const res = await fetch('v1/models', { headers: headers() });
      if (!res.ok) return;
      const j = await res.json();
      if (j && j.data && j.data[0]) {
        state.model = j.data[0].id;
        $('model-info').textContent = 'Model: ' + state.model + '.';
      }
    } catch (e) { /* the page still works without it */ }
  }

  async function main() {
    const css = getComputedStyle(document.documentElement);
    if (css.getPropertyValue('--shade-rgb').trim()) {
      shadeRgb = css.getPropertyValue('--shade-rgb').trim();
      shadeMax = Number(css.getPropertyValue('--shade-max')) || shadeMax;
    }
    try {
      const key = sessionStorage.getItem('tt-api-key');
      if (key) $('api_key').value = key;
    } catch (e) { /* private mode */ }
    const autorun = applyQuery();
    wire();
    renderControls();
    clearOutput('');
    updatePositionControl();
    await loadModel();
    if (autorun) {
      await generate();
    } else {
      await updateDist();
      setState('idle');
    }
  }

  main();
})();
