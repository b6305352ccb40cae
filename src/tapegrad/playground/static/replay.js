// The static export: replays a finished run's frames with the live page's drawing code.
'use strict';

(() => {
  const $ = id => document.getElementById(id);
  const run = JSON.parse($('run-data').textContent);
  const facts = run.facts, frames = run.frames;
  // the frames carry the losses since the frame before: put the whole curves together
  const loss = [], accuracy = [];
  frames.forEach(f => { loss.length = f.from; loss.push(...f.loss); accuracy.length = Math.min(accuracy.length, f.from); accuracy.push(...f.accuracy); });
  const network = new TG.Network($('network'), facts, null);
  let shown = 0, show = 'weights', timer = null;

  $('summary').textContent = `${facts.dataset}: ${facts.samples} samples; MLP(${facts.sizes[0]}, ` +
    `[${facts.sizes.slice(1).join(', ')}]), ${facts.act}, ${facts.parameters} parameters; ` +
    `${facts.loss} loss, ${facts.optimizer} lr ${facts.lr}; ${run.steps} steps`;
  $('boundary-title').textContent = facts.bounds ? 'Decision boundary' : 'Predictions';
  if (!facts.bounds) $('boundary-caption').textContent = 'Rings: each sample\'s target; dots: the model\'s output for it.';
  if (run.message) { $('message').textContent = run.message; $('message').hidden = false; }
  $('frame').max = frames.length - 1;

  function draw(i) {
    shown = i;
    const frame = frames[i];
    $('frame').value = i;
    TG.drawBoundary($('boundary'), facts, frame, -1);
    const upTo = frame.step;
    TG.drawCurves($('curves'), loss.slice(0, upTo), accuracy.slice(0, upTo), { steps: loss.length });
    network.update(frame.params, frame.grads, show);
    $('stat-step').textContent = frame.step;
    $('stat-loss').textContent = upTo ? TG.format(loss[upTo - 1]) : '–';
    $('stat-accuracy').textContent = upTo && accuracy.length ? `${Math.round(accuracy[upTo - 1] * 1000) / 10}%` : '–';
    $('stat-engine').textContent = frame.engine || '–';
    $('where').textContent = `frame ${i + 1} of ${frames.length}, after step ${frame.step} of ${run.steps}`;
  }

  function play() {
    if (timer) { clearInterval(timer); timer = null; $('play').textContent = 'Play'; return; }
    if (shown === frames.length - 1) draw(0);
    $('play').textContent = 'Pause';
    timer = setInterval(() => {
      if (shown >= frames.length - 1) return play();
      draw(shown + 1);
    }, 100);
  }

  $('play').addEventListener('click', play);
  $('frame').addEventListener('input', () => draw(Number($('frame').value)));
  document.querySelectorAll('input[name="show"]').forEach(r => r.addEventListener('change', () => {
    show = document.querySelector('input[name="show"]:checked').value;
    draw(shown);
  }));
  draw(frames.length - 1);
})();
