// Drawing for the tapegrad playground, shared by the live page (app.js) and the static
// export (replay.js): the decision boundary, the loss and accuracy curves, the network
// diagram. Plain JavaScript over canvas and SVG; no library.
'use strict';

const TG = (() => {
  const CLASS_COLORS = ['#e8820c', '#1f6fb4', '#2a9d3c', '#c0392b', '#7d4cb0', '#8c564b',
                        '#d6529b', '#6b6b6b', '#a6a31b', '#17a2b8'];
  const POSITIVE = [33, 102, 172], NEGATIVE = [178, 24, 43];  // blue, red: as draw_network
  const SVG_NS = 'http://www.w3.org/2000/svg';

  function format(x) {
    if (x === null || x === undefined) return 'not finite';
    if (x === 0) return '0';
    const text = Number(x).toPrecision(4);
    if (text.includes('e')) {
      const [m, e] = text.split('e');
      return `${parseFloat(m)}e${parseInt(e, 10)}`;
    }
    return String(parseFloat(text));
  }

  function hexToRgb(hex) {
    const n = parseInt(hex.slice(1), 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }

  function decode(base64) {
    const text = atob(base64);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes;
  }

  // A canvas drawn at the screen's pixel density; returns its 2-D context in CSS pixels.
  function context(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || Number(canvas.getAttribute('width'));
    const height = canvas.clientHeight || Number(canvas.getAttribute('height'));
    if (canvas.width !== Math.round(width * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return { ctx, width, height };
  }

  function classColor(k) { return CLASS_COLORS[k % CLASS_COLORS.length]; }

  // ------------------------------------------------------------------------------
  // Decision boundary: the grid's colours, then the points

  function toPixel(facts, width, height, x, y) {
    const [x0, x1, y0, y1] = facts.bounds;
    return [(x - x0) / (x1 - x0) * width, (y1 - y) / (y1 - y0) * height];
  }

  function fromPixel(facts, width, height, px, py) {
    const [x0, x1, y0, y1] = facts.bounds;
    return [x0 + px / width * (x1 - x0), y1 - py / height * (y1 - y0)];
  }

  function regressionColor(t) {  // 0..1 to a blue-white-orange ramp
    const a = hexToRgb(CLASS_COLORS[1]), b = hexToRgb(CLASS_COLORS[0]);
    const s = Math.abs(t - 0.5) * 2, end = t < 0.5 ? a : b;
    return end.map(c => Math.round(255 + (c - 255) * s));
  }

  function drawBoundary(canvas, facts, frame, selected) {
    const { ctx, width, height } = context(canvas);
    ctx.clearRect(0, 0, width, height);
    if (!facts.bounds) return drawPredictions(ctx, width, height, facts, frame, selected);
    const n = facts.grid;
    if (frame && frame.boundary) {
      const cls = decode(frame.boundary.cls), level = decode(frame.boundary.level);
      const image = new ImageData(n, n);
      for (let i = 0; i < n * n; i++) {
        let rgb;
        if (facts.classes === 0) rgb = regressionColor(level[i] / 255);
        else {
          const c = hexToRgb(classColor(cls[i]));
          const s = 0.06 + 0.34 * level[i] / 255;  // paler where the model is unsure
          rgb = c.map(v => Math.round(255 + (v - 255) * s));
        }
        image.data.set([rgb[0], rgb[1], rgb[2], 255], 4 * i);
      }
      const small = document.createElement('canvas');
      small.width = small.height = n;
      small.getContext('2d').putImageData(image, 0, 0);
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(small, 0, 0, width, height);
    }
    facts.points.forEach((p, i) => {
      const [px, py] = toPixel(facts, width, height, p[0], p[1]);
      ctx.beginPath();
      ctx.arc(px, py, i === selected ? 6.5 : 4.2, 0, 2 * Math.PI);
      if (facts.classes === 0) {
        const [lo, hi] = facts.target_range;
        const rgb = regressionColor((facts.labels[i] - lo) / ((hi - lo) || 1));
        ctx.fillStyle = `rgb(${rgb.join(',')})`;
      } else ctx.fillStyle = classColor(facts.labels[i]);
      ctx.fill();
      ctx.lineWidth = i === selected ? 2.5 : 1;
      ctx.strokeStyle = i === selected ? '#000' : '#fff';
      ctx.stroke();
    });
    if (width < 300) return;
    ctx.fillStyle = '#444';
    ctx.font = '11px system-ui, sans-serif';
    const [x0, x1, y0, y1] = facts.bounds;
    ctx.fillText(`x1 from ${format(x0)} to ${format(x1)}, x2 from ${format(y0)} to ${format(y1)}`,
                 6, height - 6);
  }

  // For data that is not 2-D: each sample's target (ring) and prediction (dot)
  function drawPredictions(ctx, width, height, facts, frame, selected) {
    const targets = facts.labels;
    const preds = frame && frame.predictions ? frame.predictions : [];
    const values = targets.slice();
    preds.forEach(row => row.forEach(v => { if (v !== null) values.push(v); }));
    let lo = Math.min(...values), hi = Math.max(...values);
    if (facts.classes > 0) { lo = Math.min(lo, -1.5); hi = Math.max(hi, 1.5); }
    const pad = 30, n = targets.length;
    const xOf = i => pad + (i + 0.5) * (width - 2 * pad) / n;
    const yOf = v => height - pad - (v - lo) / ((hi - lo) || 1) * (height - 2 * pad);
    ctx.strokeStyle = '#ccc';
    ctx.beginPath(); ctx.moveTo(pad, yOf(0)); ctx.lineTo(width - pad, yOf(0)); ctx.stroke();
    ctx.fillStyle = '#444';
    ctx.font = '12px system-ui, sans-serif';
    ctx.fillText(`${n} samples with ${facts.features.length} features: no 2-D picture.`, 8, 16);
    ctx.fillText('ring: target, dot: the model\'s output', 8, 32);
    for (let i = 0; i < n; i++) {
      const t = facts.classes === 2 ? (targets[i] ? 1 : -1) : targets[i];
      ctx.beginPath(); ctx.arc(xOf(i), yOf(t), 7, 0, 2 * Math.PI);
      ctx.strokeStyle = i === selected ? '#000' : '#888'; ctx.lineWidth = 2; ctx.stroke();
      const p = preds[i] ? preds[i][0] : null;
      if (p !== null && p !== undefined) {
        ctx.beginPath(); ctx.arc(xOf(i), yOf(p), 4, 0, 2 * Math.PI);
        ctx.fillStyle = CLASS_COLORS[1]; ctx.fill();
      }
      if (n <= 30) { ctx.fillStyle = '#444'; ctx.fillText(String(i), xOf(i) - 3, height - 10); }
    }
  }

  // ------------------------------------------------------------------------------
  // Loss and accuracy per step

  function niceCeiling(x) {  // 1, 2, 2.5, 5 or 10 times a power of ten, at least x
    const power = Math.pow(10, Math.floor(Math.log10(x)));
    return [1, 2, 2.5, 5, 10].map(m => m * power).find(v => v >= x * 0.9999);
  }

  // Loss curves (left axis), accuracy (right axis, when given), per step.
  function drawCurves(canvas, loss, accuracy, options = {}) {
    const series = [{ values: loss, color: '#222' }];
    drawSeries(canvas, series, accuracy, options);
  }

  // Several loss curves on one chart, each {values, color, label}: the sweep's.
  function drawSeries(canvas, series, accuracy, options = {}) {
    const { ctx, width, height } = context(canvas);
    ctx.clearRect(0, 0, width, height);
    const left = 46, right = accuracy.length ? 40 : 10, top = 10, bottom = 24;
    const w = width - left - right, h = height - top - bottom;
    const finite = [].concat(...series.map(s => s.values)).filter(v => v !== null && isFinite(v));
    const steps = Math.max(...series.map(s => s.values.length), options.steps || 0, 2);
    const hi = niceCeiling(finite.length && Math.max(...finite) > 0 ? Math.max(...finite) : 1);
    ctx.strokeStyle = '#ddd'; ctx.fillStyle = '#555'; ctx.lineWidth = 1;
    ctx.font = '11px system-ui, sans-serif';
    for (let k = 0; k <= 4; k++) {
      const y = top + h - k / 4 * h;
      ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + w, y); ctx.stroke();
      ctx.fillText(format(hi * k / 4), 4, y + 4);
      if (accuracy.length) ctx.fillText(`${k * 25}%`, left + w + 6, y + 4);
    }
    ctx.fillText('step 0', left, height - 6);
    const last = `${steps - 1}`;
    ctx.fillText(last, left + w - ctx.measureText(last).width, height - 6);
    const line = (values, scale, color) => {
      ctx.strokeStyle = color; ctx.lineWidth = 1.8; ctx.beginPath();
      let drawing = false;
      values.forEach((v, i) => {
        if (v === null || !isFinite(v)) { drawing = false; return; }
        const x = left + i / (steps - 1) * w, y = top + h - Math.min(v / scale, 1.05) * h;
        if (drawing) ctx.lineTo(x, y); else ctx.moveTo(x, y);
        drawing = true;
      });
      ctx.stroke();
    };
    if (accuracy.length) line(accuracy, 1, '#2a9d3c');
    series.forEach(s => line(s.values, hi, s.color));
    let x = left + 8;
    series.filter(s => s.label).forEach(s => {
      ctx.fillStyle = s.color; ctx.fillRect(x, top + 4, 16, 3);
      ctx.fillStyle = '#333'; ctx.fillText(s.label, x + 20, top + 9);
      x += 34 + ctx.measureText(s.label).width;
    });
  }

  // ------------------------------------------------------------------------------
  // The network: one circle per input and neuron, one line per weight

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  // Where each weight and bias sits in model.parameters(): neuron by neuron, w1..wn then b.
  function parameterIndex(sizes) {
    const layers = [];
    let at = 0;
    for (let l = 1; l < sizes.length; l++) {
      const neurons = [];
      for (let j = 0; j < sizes[l]; j++) {
        neurons.push({ w: Array.from({ length: sizes[l - 1] }, (_, i) => at + i), b: at + sizes[l - 1] });
        at += sizes[l - 1] + 1;
      }
      layers.push(neurons);
    }
    return layers;
  }

  class Network {
    constructor(svg, facts, onNeuron) {
      this.svg = svg; this.facts = facts; this.onNeuron = onNeuron;
      this.selected = null;
      const sizes = facts.sizes, tallest = Math.max(...sizes);
      const rowGap = Math.max(18, Math.min(34, 420 / tallest)), colGap = 150;
      const width = 60 + colGap * (sizes.length - 1) + 60, height = 50 + rowGap * tallest + 50;
      svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
      svg.innerHTML = '';
      this.index = parameterIndex(sizes);
      const pos = sizes.map((n, c) => Array.from({ length: n }, (_, r) =>
        [50 + c * colGap, 50 + (tallest - n) * rowGap / 2 + r * rowGap + rowGap / 2]));
      const lines = el('g', {}, svg), nodes = el('g', {}, svg);
      this.lines = []; this.circles = [];
      sizes.forEach((n, c) => {
        const name = c === 0 ? 'input' : c === sizes.length - 1 ? 'output' : `hidden ${c}`;
        const head = el('text', { x: pos[c][0][0], y: 22, 'text-anchor': 'middle', class: 'net-head' }, svg);
        head.textContent = `${name} (${n})`;
      });
      for (let l = 1; l < sizes.length; l++) {
        this.index[l - 1].forEach((neuron, j) => {
          neuron.w.forEach((p, i) => {
            const [x1, y1] = pos[l - 1][i], [x2, y2] = pos[l][j];
            this.lines.push([p, el('line', { x1, y1, x2, y2, class: 'net-line' }, lines),
                             `layer ${l}, neuron ${j + 1}, w${i + 1}`]);
          });
        });
      }
      pos[0].forEach(([x, y], i) => {
        el('circle', { cx: x, cy: y, r: 9, class: 'net-input' }, nodes);
        const t = el('text', { x: x - 14, y: y + 4, 'text-anchor': 'end', class: 'net-label' }, nodes);
        t.textContent = facts.features[i] || `x${i + 1}`;
      });
      for (let l = 1; l < sizes.length; l++) {
        pos[l].forEach(([x, y], j) => {
          const c = el('circle', { cx: x, cy: y, r: 9, class: 'net-neuron', tabindex: 0,
                                   'data-layer': l - 1, 'data-neuron': j }, nodes);
          const title = el('title', {}, c);
          title.textContent = `layer ${l}, neuron ${j + 1}: click to see its computation graph`;
          c.addEventListener('click', () => onNeuron && onNeuron(l - 1, j));
          c.addEventListener('keydown', e => { if (e.key === 'Enter') onNeuron && onNeuron(l - 1, j); });
          this.circles.push([this.index[l - 1][j].b, c, l - 1, j, title]);
        });
      }
      this.caption = el('text', { x: 8, y: height - 24, class: 'net-caption' }, svg);
      this.caption2 = el('text', { x: 8, y: height - 8, class: 'net-caption' }, svg);
    }

    select(layer, neuron) {
      this.selected = [layer, neuron];
      this.circles.forEach(([, c, l, j]) => c.classList.toggle('selected', l === layer && j === neuron));
    }

    update(params, grads, show) {
      const values = show === 'grads' ? grads : params;
      if (!values) return;
      let largest = 0;
      this.lines.forEach(([p]) => { const v = values[p]; if (v !== null && isFinite(v)) largest = Math.max(largest, Math.abs(v)); });
      const widest = Math.min(5, Math.max(1.5, 60 / Math.sqrt(this.lines.length)));
      const what = show === 'grads' ? 'w.grad' : 'w';
      this.lines.forEach(([p, line, name]) => {
        const v = values[p];
        if (v === null) { line.setAttribute('stroke', '#999'); line.setAttribute('stroke-dasharray', '3 3'); return; }
        const share = largest > 0 ? Math.abs(v) / largest : 0;
        const rgb = v < 0 ? NEGATIVE : POSITIVE;
        line.setAttribute('stroke', `rgba(${rgb.join(',')},${(0.15 + 0.85 * share).toFixed(3)})`);
        line.setAttribute('stroke-width', (0.4 + (widest - 0.4) * share).toFixed(2));
        line.removeAttribute('stroke-dasharray');
        line.dataset.value = v;
      });
      let biggestBias = 0;
      this.circles.forEach(([b]) => { const v = values[b]; if (v !== null && isFinite(v)) biggestBias = Math.max(biggestBias, Math.abs(v)); });
      this.circles.forEach(([b, circle, l, j, title]) => {
        const v = values[b];
        const share = biggestBias > 0 && v !== null ? Math.abs(v) / biggestBias : 0;
        const rgb = v < 0 ? NEGATIVE : POSITIVE;
        circle.setAttribute('fill', `rgb(${rgb.map(c => Math.round(255 + (c - 255) * share * 0.8)).join(',')})`);
        title.textContent = `layer ${l + 1}, neuron ${j + 1}: ${show === 'grads' ? 'b.grad' : 'b'} ${format(v)}. Click to see its computation graph.`;
      });
      const bias = show === 'grads' ? 'b.grad' : 'b';
      if (largest === 0 && show === 'grads') {
        this.caption.textContent = 'every gradient is 0 so far: take a training step';
        this.caption2.textContent = '';
      } else {
        this.caption.textContent = `one line per weight: blue where ${what} > 0, red where ${what} < 0,`;
        this.caption2.textContent = `thicker and darker where |${what}| is larger (largest ${format(largest)}); a neuron's fill: its ${bias}`;
      }
    }
  }

  return { format, decode, context, classColor, drawBoundary, drawCurves, drawSeries, Network, fromPixel,
           toPixel, el, SVG_NS };
})();
