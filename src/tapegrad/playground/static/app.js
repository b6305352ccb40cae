// The live playground page: settings, buttons, the stream of frames, the neuron graph
// and the learning-rate sweep. The server trains; this page only draws and asks.
'use strict';

(() => {
  const $ = id => document.getElementById(id);
  // A change of one of these makes a fresh run; the frame rate applies to the run as it
  // goes, and the sweep's steps are sent with the sweep only. The defaults come from the server.
  const RUN_FIELDS = ['dataset', 'layers', 'act', 'loss', 'optimizer', 'lr', 'batch_size', 'l2', 'seed'];
  const SETTINGS = [...RUN_FIELDS, 'steps_per_frame'];  // what a run is made with
  const FIELDS = [...SETTINGS, 'steps'];                // what a link and the defaults may set
  const SWEEP_COLORS = ['#7d4cb0', '#1f6fb4', '#2a9d3c', '#e8820c'];
  const page = {
    session: null, options: null, run: null, facts: null, loss: [], accuracy: [],
    params: null, grads: null, show: 'weights', sample: 0, network: null, lastFrame: null,
    state: 'ready', frames: 0, fps: 0, frameTimes: [], graph: null, graphRequest: null,
    sweep: null, uploadName: null,
  };
  window.playground = page;  // for the curious, and for the browser tests

  // ------------------------------------------------------------------------------
  // Messages

  function say(text, field) {
    const box = $('message');
    box.textContent = text;
    box.hidden = !text;
    document.querySelectorAll('.invalid').forEach(e => e.classList.remove('invalid'));
    if (field && $(field)) $(field).classList.add('invalid');
    if (field === 'widths') document.querySelectorAll('#widths input').forEach(e => e.classList.add('invalid'));
  }

  async function post(path, body) {
    let response;
    try {
      response = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                     body: JSON.stringify(Object.assign({ session: page.session }, body)) });
    } catch (error) {
      say('The playground server does not answer (was it stopped?). Start it again with `tapegrad playground`.');
      throw error;
    }
    const answer = await response.json().catch(() => ({ error: `the server answered ${response.status}` }));
    if (!response.ok) {
      say(answer.error, answer.field);
      const error = new Error(answer.error);
      error.shown = true;
      throw error;
    }
    return answer;
  }

  // ------------------------------------------------------------------------------
  // Settings

  function fillSelect(select, values, labels) {
    select.innerHTML = '';
    values.forEach(v => {
      const option = document.createElement('option');
      option.value = v; option.textContent = labels ? labels[v] : v;
      select.appendChild(option);
    });
  }

  function widthInputs(count) {
    const box = $('widths');
    const old = Array.from(box.querySelectorAll('input')).map(i => i.value);
    box.innerHTML = '';
    const n = Math.max(0, Math.min(Number.isInteger(count) ? count : 0, page.options.max_layers));
    for (let i = 0; i < n; i++) {
      const input = document.createElement('input');
      input.type = 'text'; input.size = 3; input.value = old[i] || old[old.length - 1] || '4';
      input.setAttribute('aria-label', `width of hidden layer ${i + 1}`);
      input.title = `neurons in hidden layer ${i + 1}`;
      input.addEventListener('change', settingsChanged);
      box.appendChild(input);
    }
  }

  function readSettings() {
    const settings = {};
    SETTINGS.forEach(f => { settings[f] = $(f).value; });
    settings.widths = Array.from($('widths').querySelectorAll('input')).map(i => i.value);
    return settings;
  }

  function writeSettings(settings) {
    FIELDS.forEach(f => { if (settings[f] !== undefined) $(f).value = settings[f]; });
    widthInputs(parseInt(settings.layers, 10));
    const inputs = $('widths').querySelectorAll('input');
    (settings.widths || []).forEach((w, i) => { if (inputs[i]) inputs[i].value = w; });
  }

  function urlSettings() {
    const query = new URLSearchParams(location.search), found = {};
    FIELDS.forEach(f => { if (query.has(f)) found[f] = query.get(f); });
    if (query.has('widths')) found.widths = query.get('widths').split(',');
    return found;
  }

  // A change of settings waits a moment for more typing, then makes a fresh run; a button
  // pressed meanwhile first waits for that run, so it acts on what the page shows.
  let pending = null, applying = Promise.resolve(true);
  function settingsChanged() {
    clearTimeout(pending);
    pending = setTimeout(() => { pending = null; applying = applySettings(readSettings()); }, 150);
  }

  async function settled() {
    if (pending !== null) {
      clearTimeout(pending);
      pending = null;
      applying = applySettings(readSettings());
    }
    return applying;
  }

  async function framesChanged() {
    await settled();
    try {
      await post('/api/steps-per-frame', { steps_per_frame: $('steps_per_frame').value });
      say('');
    } catch (error) { /* shown */ }
  }

  async function applySettings(settings) {
    $('upload-label').hidden = settings.dataset !== 'upload';
    if (settings.dataset === 'upload' && !page.uploadName) {
      say('');
      return true;  // the run goes on until a file is chosen
    }
    const sent = { widths: settings.widths };
    SETTINGS.forEach(f => { if (settings[f] !== undefined) sent[f] = settings[f]; });
    try {
      await post('/api/settings', { settings: sent });
      say('');
      return true;
    } catch (error) {
      return false;  // the message is on the page; the current run goes on as it was
    }
  }

  // ------------------------------------------------------------------------------
  // Runs and frames

  function startRun(facts) {
    page.run = facts.run; page.facts = facts; page.loss = []; page.accuracy = [];
    page.lastFrame = null; page.sample = Math.min(page.sample, facts.samples - 1);
    page.network = new TG.Network($('network'), facts, openGraph);
    $('boundary-title').textContent = facts.bounds ? 'Decision boundary' : 'Predictions';
    $('boundary-caption').textContent = facts.bounds
      ? 'Colour: the class the model gives each place, paler where it is less sure. Dots: the ' +
        'training points. Click a point to pick it for the neuron graph.'
      : 'Rings: each sample\'s target; dots: the model\'s output for it. Click a sample to pick ' +
        'it for the neuron graph.';
    $('summary').textContent = `${facts.dataset}: ${facts.samples} samples; MLP(${facts.sizes[0]}, ` +
      `[${facts.sizes.slice(1).join(', ')}]), ${facts.act}, ${facts.parameters} parameters; ` +
      `${facts.loss} loss, ${facts.optimizer} lr ${facts.lr}`;
    closeGraph();
    setState('ready');
  }

  function applyFrame(frame) {
    if (frame.run !== page.run) return;
    page.loss.length = frame.from; page.accuracy.length = Math.min(page.accuracy.length, frame.from);
    page.loss.push(...frame.loss); page.accuracy.push(...frame.accuracy);
    page.params = frame.params; page.grads = frame.grads; page.lastFrame = frame;
    page.frames += 1;
    const now = performance.now();
    page.frameTimes.push(now);
    while (page.frameTimes.length && page.frameTimes[0] < now - 1000) page.frameTimes.shift();
    page.fps = page.frameTimes.length;
    draw();
    if (frame.state && frame.state !== 'replay') setState(frame.state === 'running' ? page.state : frame.state);
  }

  function draw() {
    const frame = page.lastFrame;
    if (!page.facts || !frame) return;
    TG.drawBoundary($('boundary'), page.facts, frame, page.sample);
    TG.drawCurves($('curves'), page.loss, page.accuracy);
    page.network.update(page.params, page.grads, page.show);
    const loss = page.loss.length ? page.loss[page.loss.length - 1] : null;
    const acc = page.accuracy.length ? page.accuracy[page.accuracy.length - 1] : null;
    $('stat-step').textContent = frame.step;
    $('stat-loss').textContent = loss === null ? '–' : TG.format(loss);
    $('stat-accuracy').textContent = acc === null ? '–' : `${Math.round(acc * 1000) / 10}%`;
    $('stat-engine').textContent = frame.engine || '–';
    $('stat-fps').textContent = page.state === 'running' ? String(page.fps) : '–';
  }

  function setState(state) {
    page.state = state;
    $('stat-state').textContent = state;
    const over = ['diverged', 'failed', 'finished'].includes(state);
    $('train').disabled = state === 'running' || over;
    $('pause').disabled = state !== 'running';
    $('step').disabled = over;
    document.body.dataset.state = state;
  }

  async function control(action) {
    await settled();
    try {
      const answer = await post('/api/control', { action });
      if (action !== 'reset') setState(answer.state);
      say('');
    } catch (error) { /* shown */ }
  }

  // ------------------------------------------------------------------------------
  // The neuron graph

  async function openGraph(layer, neuron) {
    await settled();
    page.graphRequest = { layer, neuron };
    page.network.select(layer, neuron);
    await loadGraph();
  }

  async function loadGraph() {
    if (!page.graphRequest) return;
    const { layer, neuron } = page.graphRequest;
    const sample = parseInt($('graph-sample').value, 10);
    if (!Number.isInteger(sample)) return say(`sample must be a whole number, got "${$('graph-sample').value}"`, 'graph-sample');
    try {
      const graph = await post('/api/graph', { layer, neuron, sample, wrt: $('graph-wrt').value });
      page.sample = graph.sample;
      $('graph-panel').hidden = false;
      $('graph-title').textContent = `${graph.title}, after step ${graph.step}`;
      page.graph = new NeuronGraph($('graph'), $('graph-explain'), graph);
      updateGraphButtons();
      draw();
      say('');
    } catch (error) { /* shown */ }
  }

  function closeGraph() {
    page.graph = null; page.graphRequest = null;
    $('graph-panel').hidden = true;
  }

  function updateGraphButtons() {
    const g = page.graph;
    $('graph-step').disabled = !g || g.step >= g.steps;
    $('graph-all').disabled = !g || g.step >= g.steps;
    $('graph-restart').disabled = !g || g.step === 0;
    $('graph-progress').textContent = g ? `${g.step} of ${g.steps} steps` : '';
  }

  function pickSample(event) {
    if (!page.facts) return;
    const rect = event.target.getBoundingClientRect();
    if (!page.facts.bounds) {  // the predictions view: one column a sample
      const n = page.facts.labels.length, pad = 30;
      const i = Math.floor((event.clientX - rect.left - pad) / ((rect.width - 2 * pad) / n));
      if (i < 0 || i >= n) return;
      page.sample = i;
      $('graph-sample').value = i;
      draw();
      return loadGraph();
    }
    const [x, y] = TG.fromPixel(page.facts, rect.width, rect.height, event.clientX - rect.left,
                                event.clientY - rect.top);
    let best = 0, bestDistance = Infinity;
    page.facts.points.forEach((p, i) => {
      const d = (p[0] - x) ** 2 + (p[1] - y) ** 2;
      if (d < bestDistance) { best = i; bestDistance = d; }
    });
    page.sample = best;
    $('graph-sample').value = best;
    draw();
    loadGraph();
  }

  // ------------------------------------------------------------------------------
  // The learning-rate sweep

  async function startSweep() {
    await settled();
    try {
      const answer = await post('/api/sweep', { steps: $('steps').value });
      page.sweep = { id: answer.sweep, steps: answer.steps, cells: [] };
      const box = $('sweep-cells');
      box.innerHTML = '';
      answer.rates.forEach((rate, i) => {
        const cell = document.createElement('div');
        cell.className = 'sweep-cell';
        cell.innerHTML = `<h3><span class="key" style="background:${SWEEP_COLORS[i]}"></span>lr ${rate}</h3>` +
                         `<canvas class="sweep-boundary" width="200" height="200"></canvas><p class="sweep-note">waiting</p>`;
        box.appendChild(cell);
        page.sweep.cells.push({ cell, loss: [], accuracy: [], rate });
      });
      if (!page.facts.bounds) box.querySelectorAll('.sweep-boundary').forEach(c => { c.hidden = true; });
      $('sweep-curves').hidden = false;
      say('');
    } catch (error) { /* shown */ }
  }

  function sweepFrame(frame) {
    if (!page.sweep || frame.sweep !== page.sweep.id) return;
    const cell = page.sweep.cells[frame.index];
    cell.loss.length = frame.from; cell.loss.push(...frame.loss);
    cell.accuracy.length = Math.min(cell.accuracy.length, frame.from); cell.accuracy.push(...frame.accuracy);
    if (frame.boundary) TG.drawBoundary(cell.cell.querySelector('.sweep-boundary'), page.facts, frame, -1);
    TG.drawSeries($('sweep-curves'), page.sweep.cells.map((c, i) =>
      ({ values: c.loss, color: SWEEP_COLORS[i], label: `lr ${c.rate}` })), [], { steps: page.sweep.steps });
    const last = cell.loss[cell.loss.length - 1];
    const acc = cell.accuracy.length ? `, accuracy ${Math.round(cell.accuracy[cell.accuracy.length - 1] * 100)}%` : '';
    cell.cell.querySelector('.sweep-note').textContent = `step ${frame.step}: loss ${TG.format(last)}${acc}`;
  }

  function sweepStopped(event) {
    if (!page.sweep || event.sweep !== page.sweep.id) return;
    page.sweep.cells.forEach(c => { c.cell.querySelector('.sweep-note').textContent = event.message; });
    page.sweep = null;  // frames of it still on their way are not drawn
  }

  function sweepDone(event) {
    if (!page.sweep || event.sweep !== page.sweep.id) return;
    page.sweep.cells.forEach(c => {
      const note = event.notes[String(c.rate)];
      if (note) c.cell.querySelector('.sweep-note').textContent = `lr ${c.rate}: ${note}`;
    });
  }

  // ------------------------------------------------------------------------------
  // Upload

  async function upload() {
    const file = $('upload').files[0];
    if (!file) return;
    let response;
    try {
      response = await fetch(`/api/upload?session=${encodeURIComponent(page.session)}&name=${encodeURIComponent(file.name)}`,
                             { method: 'POST', headers: { 'Content-Type': 'text/csv' }, body: file });
    } catch (error) {
      return say(`${file.name} could not be sent: ${error.message}`, 'upload');
    }
    const answer = await response.json().catch(() => ({ error: `the server answered ${response.status}` }));
    if (!response.ok) return say(answer.error, 'upload');
    page.uploadName = answer.name;
    const option = $('dataset').querySelector('option[value="upload"]');
    option.textContent = `uploaded: ${answer.name} (${answer.rows} rows)`;
    $('dataset').value = 'upload';
    if (await applySettings(readSettings())) say('');
  }

  // ------------------------------------------------------------------------------
  // Start

  function connect() {
    const events = new EventSource('/api/events');
    events.onmessage = message => {
      const event = JSON.parse(message.data);
      if (event.type === 'hello') return hello(event);
      if (event.type === 'run') return startRun(event);
      if (event.type === 'frame') return applyFrame(event);
      if (event.type === 'state') { if (event.run === page.run) setState(event.state); return; }
      if (event.type === 'sweep') return sweepFrame(event);
      if (event.type === 'sweep-done') return sweepDone(event);
      if (event.type === 'sweep-stopped') return sweepStopped(event);
      if (event.type === 'error') {
        if (event.run !== undefined && event.run !== page.run) return;
        if (event.kind === 'diverged' || event.kind === 'failed') setState(event.kind);
        return say(event.message);
      }
    };
    events.onerror = () => {
      events.close();
      setState('stopped');
      say('Lost the connection to the playground server (was it stopped?). Start it again ' +
          'with `tapegrad playground`, then reload this page.');
    };
  }

  async function hello(event) {
    page.session = event.session;
    page.options = event.options;
    const o = event.options;
    fillSelect($('dataset'), [...Object.keys(o.datasets), 'upload'],
               Object.assign({ upload: 'upload a CSV file…' }, o.datasets));
    fillSelect($('act'), o.activations);
    fillSelect($('loss'), o.losses);
    fillSelect($('optimizer'), o.optimizers);
    fillSelect($('steps_per_frame'), o.steps_per_frame);
    $('sweep').textContent = `Run the sweep: lr ${o.rates.join(', ')}`;
    $('limits').textContent = `up to ${o.max_layers} hidden layers of up to ${o.max_width} neurons; ` +
                              `CSV files up to ${Math.round(o.max_upload_bytes / 1000)} kB`;
    writeSettings(o.defaults);
    const asked = urlSettings();
    if (Object.keys(asked).length) {
      const wanted = Object.assign({}, o.defaults, asked);
      const shown = wanted.dataset;
      writeSettings(wanted);
      if (!(await applySettings(wanted))) {
        const message = $('message').textContent;
        if (!o.datasets[shown] && shown !== 'upload') $('dataset').value = o.defaults.dataset;
        await applySettings(readSettings()) || await applySettings(o.defaults);
        say(message, null);
      }
    } else await applySettings(o.defaults);
  }

  document.addEventListener('DOMContentLoaded', () => {
    RUN_FIELDS.forEach(f => $(f).addEventListener('change', settingsChanged));
    $('steps_per_frame').addEventListener('change', framesChanged);
    $('layers').addEventListener('input', () => widthInputs(parseInt($('layers').value, 10)));
    $('train').addEventListener('click', () => control('train'));
    $('pause').addEventListener('click', () => control('pause'));
    $('step').addEventListener('click', () => control('step'));
    $('reset').addEventListener('click', () => control('reset'));
    $('upload').addEventListener('change', upload);
    document.querySelectorAll('input[name="show"]').forEach(r => r.addEventListener('change', () => {
      page.show = document.querySelector('input[name="show"]:checked').value;
      draw();
    }));
    $('boundary').addEventListener('click', pickSample);
    $('graph-step').addEventListener('click', () => { page.graph.show(page.graph.step + 1); updateGraphButtons(); });
    $('graph-all').addEventListener('click', () => { page.graph.show(page.graph.steps); updateGraphButtons(); });
    $('graph-restart').addEventListener('click', () => { page.graph.show(0); updateGraphButtons(); });
    $('graph-close').addEventListener('click', () => { closeGraph(); page.network.select(-1, -1); });
    $('graph-sample').addEventListener('change', loadGraph);
    $('graph-wrt').addEventListener('change', loadGraph);
    $('sweep').addEventListener('click', startSweep);
    connect();
  });
})();
