// One neuron's computation graph, drawn as boxes (label, data, grad) in the columns the
// server laid out, and the backward pass replayed over it one Value at a time.
'use strict';

const NeuronGraph = (() => {
  const BOX_W = 100, BOX_H = 46;
  const BLUES = ['#eff3ff', '#bdd7e7', '#6baed6', '#3182bd', '#08519c'];  // as draw_dot

  class NeuronGraph {
    constructor(svg, explain, graph) {
      this.svg = svg; this.explain = explain; this.graph = graph;
      this.nodes = graph.nodes;
      const byId = new Map(this.nodes.map(n => [n.id, n]));
      // The Values backward() passes a gradient through, in the order it visits them.
      this.visiting = this.nodes.filter(n => n.children.length).sort((a, b) => a.visit - b.visit);
      // A Value's grad is complete once every Value that uses it has passed its grad back.
      this.completeAt = new Map();
      this.nodes.forEach(n => this.completeAt.set(n.id, n.visit === 0 ? 1 : Infinity));
      this.visiting.forEach((n, k) => n.children.forEach(c => {
        const at = this.completeAt.get(c);
        this.completeAt.set(c, at === Infinity ? k + 2 : Math.max(at, k + 2));
      }));
      this.largest = Math.max(0, ...this.nodes.filter(n => n.visit > 0 && n.grad !== null)
        .map(n => Math.abs(n.grad)));
      this.byId = byId;
      this.steps = 1 + this.visiting.length;
      this.draw();
      this.show(0);
    }

    draw() {
      const { svg, graph } = this;
      svg.innerHTML = '';
      svg.setAttribute('width', graph.width + BOX_W);
      svg.setAttribute('height', graph.height);
      svg.setAttribute('viewBox', `0 0 ${graph.width + BOX_W} ${graph.height}`);
      const edges = TG.el('g', {}, svg), boxes = TG.el('g', {}, svg);
      this.edgeEls = [];
      this.boxEls = new Map();
      this.nodes.forEach(n => {
        n.children.forEach(c => {
          const child = this.byId.get(c);
          const x1 = child.x + BOX_W, y1 = child.y + BOX_H / 2, x2 = n.x - (n.op.length > 1 ? 39 : 22), y2 = n.y + BOX_H / 2;
          const mid = (x1 + x2) / 2;
          const path = TG.el('path', { d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`,
                                       class: 'graph-edge' }, edges);
          this.edgeEls.push([n.id, c, path]);
        });
      });
      this.nodes.forEach(n => {
        const g = TG.el('g', { transform: `translate(${n.x},${n.y})`, class: `graph-node kind-${n.kind}`,
                               'data-name': n.name }, boxes);
        const rect = TG.el('rect', { width: BOX_W, height: BOX_H, rx: 5 }, g);
        const name = TG.el('text', { x: 6, y: 14, class: 'graph-name' }, g);
        name.textContent = n.name.length > 15 ? n.name.slice(0, 14) + '…' : n.name;
        const data = TG.el('text', { x: 6, y: 28, class: 'graph-data' }, g);
        data.textContent = `data ${TG.format(n.data)}`;
        const grad = TG.el('text', { x: 6, y: 41, class: 'graph-grad' }, g);
        if (n.children.length) {
          const long = n.op.length > 1;  // tanh, relu, sigmoid: a wider oval
          const op = TG.el('g', { transform: `translate(${long ? -20 : -12},${BOX_H / 2})`, class: 'graph-op' }, g);
          TG.el('ellipse', { rx: long ? 19 : 10, ry: 10 }, op);
          const t = TG.el('text', { y: 4, 'text-anchor': 'middle' }, op);
          t.textContent = n.op === '*' ? '×' : n.op;
          if (long) t.setAttribute('class', 'graph-op-long');
        }
        const title = TG.el('title', {}, g);
        title.textContent = `${n.name}: ${n.kind === 'input' ? 'an input to this neuron' : n.kind}`;
        this.boxEls.set(n.id, { g, rect, grad });
      });
    }

    // Show the state after `step` steps of the backward pass (0: before it starts).
    show(step) {
      this.step = Math.max(0, Math.min(step, this.steps));
      const current = this.step >= 2 ? this.visiting[this.step - 2] : null;
      this.nodes.forEach(n => {
        const { g, rect, grad } = this.boxEls.get(n.id);
        const known = this.completeAt.get(n.id) <= this.step;
        grad.textContent = known ? `grad ${TG.format(n.grad)}` : 'grad ?';
        let fill = '#ffffff';
        if (known && n.grad !== null) {
          const share = n.visit === 0 || this.largest === 0 ? 1 : Math.abs(n.grad) / this.largest;
          fill = BLUES[Math.min(BLUES.length - 1, Math.floor(share * BLUES.length))];
        }
        rect.setAttribute('fill', fill);
        g.classList.toggle('dark', known && (fill === BLUES[3] || fill === BLUES[4]));
        g.classList.toggle('known', known);
        g.classList.toggle('current', current !== null && current.id === n.id);
      });
      this.edgeEls.forEach(([parent, , path]) =>
        path.classList.toggle('current', current !== null && current.id === parent));
      this.explain.textContent = this.describe(current);
      const focus = current || (this.step === 1 ? this.visiting[0] || this.nodes[this.nodes.length - 1] : null);
      if (focus) this.scrollTo(focus);
    }

    describe(current) {
      const root = this.nodes.find(n => n.visit === 0);
      if (this.step === 0) {
        return `Forward pass done: every box shows its data. Press "Step backward" to run ` +
               `backward() one Value at a time, from ${root.name} back to the weights and inputs.`;
      }
      if (this.step === 1) return `Step 1: ${this.graph.root_note}.`;
      const lines = current.explain.map((line, i) => {
        const child = this.byId.get(current.children[i]);
        return `${line}  →  ${child.name}.grad = ${TG.format(child.grad)}`;
      });
      const done = this.step === this.steps ? '\nDone: every gradient is known.' : '';
      return `Step ${this.step}: backward() visits ${current.name} (${current.op}) and passes its ` +
             `grad to its inputs:\n${lines.join('\n')}${done}`;
    }

    scrollTo(node) {
      const box = this.svg.parentElement;
      if (!box) return;
      const left = node.x - box.clientWidth / 2 + BOX_W / 2, top = node.y - box.clientHeight / 2;
      box.scrollTo({ left: Math.max(0, left), top: Math.max(0, top), behavior: 'auto' });
    }
  }

  return NeuronGraph;
})();
