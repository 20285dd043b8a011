// The experiment report: every view is drawn from the JSON the Report task inlines into the page (#report-data).
// Text from the data is only ever set as textContent, never parsed as HTML. Views are entries of `views` (a hash
// route each): a search study would be one more entry, not a second page.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const served = location.protocol === "http:" || location.protocol === "https:";
  const runs = data.runs || [];
  const details = data.details || {};
  const metrics = (data.metrics || []).filter(m => runs.some(r => r.metrics && r.metrics[m.name] != null));
  const metricInfo = new Map((data.metrics || []).map(m => [m.name, m]));
  const constants = data.constants || {};
  const varying = data.varying || [];
  const byId = new Map(runs.map(r => [r.id, r]));
  const palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];
  window.reportTimings = {};

  // ---- small helpers -------------------------------------------------------------------------------------------
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (value == null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child == null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const param = (run, key) => (run.parameters && key in run.parameters) ? run.parameters[key] : constants[key];
  function show(value) {
    if (value == null) return "";
    return typeof value === "string" ? value : typeof value === "number" ? String(value) : JSON.stringify(value);
  }
  function number(name, value) {
    if (value == null || typeof value !== "number") return "";
    return metricInfo.get(name) && metricInfo.get(name).seconds ? value.toFixed(1) : value.toFixed(4);
  }
  const label = run => run.name || run.id;
  const lowerIsBetter = name => !!(metricInfo.get(name) && metricInfo.get(name).lower_is_better);

  // ---- the table's columns and state ----------------------------------------------------------------------------
  const fit = (title, most) => Math.min(most, Math.max(80, title.length * 8 + 30));
  const allParameters = [...new Set([...varying, ...Object.keys(constants)])].sort();
  const columns = [
    { key: "select", title: "", width: 30, get: () => null, fixed: true },
    { key: "name", title: "name", width: 160, get: r => r.name || "" },
    { key: "id", title: "id", width: 90, get: r => r.id },
    { key: "created", title: "date (UTC)", width: 180, get: r => r.created },
    ...allParameters.map(k => ({ key: "p:" + k, title: k, width: fit(k, 240), get: r => param(r, k), parameter: true })),
    ...metrics.map(m => ({ key: "m:" + m.name, title: m.name, width: fit(m.name, 200), get: r => r.metrics ? r.metrics[m.name] : null, metric: m.name })),
    { key: "problems", title: "records", width: 260, get: r => (r.problems || []).join("; ") },
  ];
  const state = {
    visible: new Set(["select", "name", "id", "created", ...varying.map(k => "p:" + k), ...metrics.map(m => "m:" + m.name), "problems"]),
    sort: null, descending: true, filter: "", rows: runs.slice(), selected: new Set(),
  };
  // What the filter box searches: names, ids, dates, every parameter's value and the problems.
  const searchText = new Map(runs.map(r => [r, [r.name, r.id, r.created, ...varying.map(k => k + "=" + show(param(r, k))), ...(r.problems || [])].join(" ").toLowerCase()]));

  // One collator for every comparison: localeCompare with options builds one per call (a second for 10,000 rows).
  const collator = new Intl.Collator(undefined, { numeric: true });
  function compare(column, descending) {
    const better = column.metric && lowerIsBetter(column.metric) ? !descending : descending;
    return (a, b) => {
      const x = column.get(a), y = column.get(b);
      if (x == null || x === "") return (y == null || y === "") ? 0 : 1;   // empty cells last either way
      if (y == null || y === "") return -1;
      const order = typeof x === "number" && typeof y === "number" ? x - y : collator.compare(show(x), show(y));
      return better ? -order : order;
    };
  }

  // key=value, key>number, key<number, or plain words; every term must match.
  function matcher(text) {
    const terms = text.trim().toLowerCase().split(/\s+/).filter(Boolean).map(term => {
      const m = term.match(/^([\w.]+)(=|>|<)(.*)$/);
      if (!m) return r => searchText.get(r).includes(term);
      const [, key, op, wanted] = m;
      const value = r => (r.metrics && key in r.metrics) ? r.metrics[key] : param(r, key);
      if (op === "=") return r => show(value(r)).toLowerCase() === wanted;
      const limit = Number(wanted);
      return r => typeof value(r) === "number" && (op === ">" ? value(r) > limit : value(r) < limit);
    });
    return r => terms.every(t => t(r));
  }

  function applyTable() {
    let rows = state.filter ? runs.filter(matcher(state.filter)) : runs.slice();
    if (state.sort) rows.sort(compare(columns.find(c => c.key === state.sort), state.descending));
    state.rows = rows;
  }

  // ---- views --------------------------------------------------------------------------------------------------
  const views = {
    experiments: { title: "Experiments", render: renderExperiments },
    plots: { title: "Parameters", render: renderPlots },
    compare: { title: "Compare", render: renderCompare },
    run: { title: null, render: renderRun },  // #run/<id>: reached from a row
  };
  const main = document.getElementById("view");
  const charts = [];

  function route() {
    for (const chart of charts.splice(0)) chart.destroy();
    const [name, argument] = (location.hash.slice(1) || "experiments").split("/");
    const view = views[name] || views.experiments;
    const nav = document.getElementById("nav");
    nav.replaceChildren(...Object.entries(views).filter(([, v]) => v.title).map(([key, v]) =>
      el("a", { href: "#" + key, class: key === name || (!views[name] && key === "experiments") ? "current" : null },
        key === "compare" && state.selected.size ? `${v.title} (${state.selected.size})` : v.title)));
    main.replaceChildren();
    try {
      view.render(main, argument ? decodeURIComponent(argument) : null);
    } catch (error) {
      main.append(el("p", { class: "problem" }, "This view failed: " + error.message));
      throw error;
    }
  }
  window.addEventListener("hashchange", route);

  // ---- the experiments table ----------------------------------------------------------------------------------
  const rowHeight = 26;
  function renderExperiments(root) {
    if (runs.length === 0) {
      root.append(el("p", { class: "empty" }, `No experiments in ${data.artifacts} yet: a full ./build.sh records one.`));
      renderDamaged(root);
      return;
    }
    const count = el("span", { class: "muted", id: "row-count" });
    const filter = el("input", { type: "search", id: "filter", placeholder: "filter: words, key=value, key>number (e.g. accuracy>0.98)", value: state.filter });
    const compareButton = el("button", { id: "compare-selected", onclick: () => { location.hash = "#compare"; } });
    const chooser = el("details", { class: "columns" }, el("summary", {}, "columns"),
      el("div", {}, columns.filter(c => !c.fixed).map(c => el("label", {},
        el("input", { type: "checkbox", "data-column": c.key, checked: state.visible.has(c.key), onchange: e => {
          if (e.target.checked) state.visible.add(c.key); else state.visible.delete(c.key);
          draw();
        } }), " " + c.title))));
    root.append(el("div", { class: "toolbar" }, filter, chooser, compareButton, count));
    const scroller = el("div", { class: "scroller", id: "experiments" });
    const head = el("div", { class: "grid thead" });
    const body = el("div", { class: "body" });
    scroller.append(head, body);
    root.append(scroller);
    renderDamaged(root);

    let shown = [];
    function draw() {
      shown = columns.filter(c => state.visible.has(c.key));
      const template = shown.map(c => c.width + "px").join(" ");
      head.style.gridTemplateColumns = template;
      head.replaceChildren(...shown.map(c => el("div", {
        class: "cell" + (state.sort === c.key ? " sorted" + (state.descending ? "" : " up") : "") + (c.metric ? " number" : ""),
        "data-column": c.key, title: c.metric ? `sort by ${c.title} (${lowerIsBetter(c.metric) ? "lowest" : "highest"} first)` : `sort by ${c.title}`,
        onclick: () => sortBy(c.key),
      }, c.title)));
      const width = shown.reduce((sum, c) => sum + c.width, 0);
      head.style.width = body.style.width = width + "px";
      body.style.height = state.rows.length * rowHeight + "px";
      count.textContent = `${state.rows.length} of ${runs.length} runs` + (state.selected.size ? `, ${state.selected.size} selected` : "");
      compareButton.textContent = `compare selected (${state.selected.size})`;
      compareButton.disabled = state.selected.size === 0;
      paint();
    }
    // Only the rows in sight (and a few around them) are in the document.
    function paint() {
      const first = Math.max(0, Math.floor(scroller.scrollTop / rowHeight) - 5);
      const last = Math.min(state.rows.length, first + Math.ceil(scroller.clientHeight / rowHeight) + 10);
      const template = shown.map(c => c.width + "px").join(" ");
      const rows = [];
      for (let i = first; i < last; i++) rows.push(renderRow(state.rows[i], i, template));
      body.replaceChildren(...rows);
    }
    function renderRow(run, index, template) {
      const row = el("div", { class: "grid row" + ((run.problems || []).length ? " damaged" : ""), "data-row": index, "data-id": run.id });
      row.style.top = index * rowHeight + "px";
      row.style.gridTemplateColumns = template;
      for (const c of shown) {
        const value = c.get(run);
        let content;
        if (c.key === "select") {
          content = el("input", { type: "checkbox", "aria-label": "select " + run.id, checked: state.selected.has(run.id), onchange: e => {
            if (e.target.checked) state.selected.add(run.id); else state.selected.delete(run.id);
            draw();
            route.nav();
          } });
        } else if (c.key === "id" || c.key === "name" && run.name) {
          content = el("a", { href: "#run/" + encodeURIComponent(run.id) }, c.key === "name" ? run.name : run.id);
        } else {
          content = c.metric ? number(c.metric, value) : show(value);
        }
        row.append(el("div", { class: "cell" + (c.metric ? " number" : "") + (c.key === "problems" && value ? " problem" : ""), "data-column": c.key,
          title: c.key === "select" ? null : show(value) }, content));
      }
      return row;
    }
    function sortBy(key) {
      if (key === "select") return;
      state.descending = state.sort === key ? !state.descending : true;
      state.sort = key;
      applyTable();
      draw();
    }
    filter.addEventListener("input", () => {
      state.filter = filter.value;
      applyTable();
      scroller.scrollTop = 0;
      draw();
    });
    scroller.addEventListener("scroll", () => requestAnimationFrame(paint));
    applyTable();
    draw();
    if (window.reportTimings.firstRender == null)
      requestAnimationFrame(() => setTimeout(() => { window.reportTimings.firstRender = performance.now(); }, 0));
  }

  function renderDamaged(root) {
    const damaged = data.damaged || [];
    if (!damaged.length) return;
    root.append(el("h2", {}, `Damaged experiment records (${damaged.length})`),
      el("ul", { id: "damaged" }, damaged.map(d => el("li", { class: "problem" }, `${d.file}: ${d.problem}`))));
  }

  // ---- parameters against a metric ----------------------------------------------------------------------------
  function renderPlots(root) {
    if (runs.length === 0) { root.append(el("p", { class: "empty" }, "No experiments yet.")); return; }
    const rows = state.rows.length ? state.rows : runs;
    const metricNames = metrics.map(m => m.name);
    const choice = (id, options, selected) => el("select", { id }, options.map(o => el("option", { value: o, selected: o === selected }, o)));
    const defaultMetric = metricNames.includes("accuracy") ? "accuracy" : metricNames[0];
    const metricSelect = choice("parallel-metric", metricNames, defaultMetric);
    const parallel = el("canvas", { class: "parallel", id: "parallel" });
    root.append(el("h2", {}, "Parallel coordinates"),
      el("p", { class: "muted" }, `${rows.length} runs (the table's filter applies); each line is a run, coloured by the metric.`),
      el("div", { class: "controls" }, el("label", {}, "metric ", metricSelect)), parallel);
    const drawParallel = () => drawParallelCoordinates(parallel, rows, varying, metricSelect.value);
    metricSelect.addEventListener("change", drawParallel);
    drawParallel();

    const axes = [...varying, ...metricNames];
    const xSelect = choice("scatter-x", axes, varying[0] || metricNames[0]);
    const ySelect = choice("scatter-y", metricNames, defaultMetric);
    const holder = el("div", { id: "scatter" });
    root.append(el("h2", {}, "Scatter"), el("div", { class: "controls" }, el("label", {}, "x ", xSelect), el("label", {}, "y ", ySelect)), holder);
    const drawScatter = () => {
      for (const chart of charts.splice(0)) chart.destroy();
      holder.replaceChildren();
      scatter(holder, rows, xSelect.value, ySelect.value);
    };
    xSelect.addEventListener("change", drawScatter);
    ySelect.addEventListener("change", drawScatter);
    drawScatter();
  }

  const value = (run, key) => (run.metrics && key in run.metrics) ? run.metrics[key] : param(run, key);

  // An axis maps a run to 0..1: numbers by range, other values by their sorted distinct values.
  function axis(rows, key) {
    const values = rows.map(r => value(r, key)).filter(v => v != null);
    if (values.length && values.every(v => typeof v === "number")) {
      const min = Math.min(...values), max = Math.max(...values);
      return { key, place: v => typeof v === "number" ? (max === min ? 0.5 : (v - min) / (max - min)) : null,
        ticks: max === min ? [[0.5, String(min)]] : [[0, String(+min.toPrecision(4))], [1, String(+max.toPrecision(4))]] };
    }
    const distinct = [...new Set(values.map(show))].sort((a, b) => collator.compare(a, b));
    const at = v => distinct.length === 1 ? 0.5 : distinct.indexOf(v) / (distinct.length - 1);
    return { key, place: v => v == null ? null : at(show(v)), ticks: distinct.slice(0, 12).map(d => [at(d), d]) };
  }

  function drawParallelCoordinates(canvas, rows, keys, metric) {
    const width = Math.max(600, main.clientWidth - 40), height = 360, pad = { left: 60, right: 60, top: 30, bottom: 30 };
    const scale = window.devicePixelRatio || 1;
    canvas.width = width * scale; canvas.height = height * scale;
    canvas.style.width = width + "px"; canvas.style.height = height + "px";
    const g = canvas.getContext("2d");
    g.setTransform(scale, 0, 0, scale, 0, 0);
    g.clearRect(0, 0, width, height);
    const axes = [...keys, metric].map(k => axis(rows, k));
    const x = i => pad.left + (axes.length === 1 ? 0 : i * (width - pad.left - pad.right) / (axes.length - 1));
    const y = t => height - pad.bottom - t * (height - pad.top - pad.bottom);
    const colour = axis(rows, metric);
    g.globalAlpha = Math.max(0.08, Math.min(0.8, 40 / Math.max(1, rows.length)));
    g.lineWidth = 1.2;
    for (const run of rows) {
      const places = axes.map(a => a.place(value(run, a.key)));
      if (places.some(p => p == null)) continue;
      const t = colour.place(value(run, metric));
      g.strokeStyle = `hsl(${240 - 200 * t}, 75%, 45%)`;
      g.beginPath();
      places.forEach((p, i) => i ? g.lineTo(x(i), y(p)) : g.moveTo(x(i), y(p)));
      g.stroke();
    }
    g.globalAlpha = 1;
    g.strokeStyle = "#444"; g.fillStyle = "#222"; g.font = "12px system-ui, sans-serif"; g.textAlign = "center";
    axes.forEach((a, i) => {
      g.beginPath(); g.moveTo(x(i), y(0)); g.lineTo(x(i), y(1)); g.stroke();
      g.fillText(a.key, x(i), pad.top - 12);
      g.textAlign = "left";
      for (const [t, text] of a.ticks) g.fillText(text.length > 14 ? text.slice(0, 13) + "…" : text, x(i) + 4, y(t) + 4);
      g.textAlign = "center";
    });
  }

  function scatter(holder, rows, xKey, yKey) {
    const xAxis = axis(rows, xKey);
    const numeric = rows.some(r => typeof value(r, xKey) === "number");
    const points = rows.map(r => [numeric ? value(r, xKey) : xAxis.place(value(r, xKey)), value(r, yKey)])
      .filter(([a, b]) => typeof a === "number" && typeof b === "number").sort((a, b) => a[0] - b[0]);
    if (!points.length) { holder.append(el("p", { class: "muted" }, `No run has both ${xKey} and ${yKey}.`)); return; }
    const xAxisOptions = { label: xKey, values: valueAxis.values };
    if (!numeric) xAxisOptions.values = (u, splits) => splits.map(s => (xAxis.ticks.find(([t]) => Math.abs(t - s) < 1e-9) || [0, ""])[1]);
    charts.push(new uPlot({
      width: Math.max(500, main.clientWidth - 60), height: 320, scales: { x: { time: false } },
      axes: [xAxisOptions, { ...valueAxis, label: yKey }],
      series: [{ label: xKey }, { label: yKey, stroke: palette[0], paths: () => null, points: { show: true, size: 6, fill: palette[0] } }],
      legend: { show: false },
    }, [points.map(p => p[0]), points.map(p => p[1])], holder));
  }

  // ---- curves, confusion matrices, per class ------------------------------------------------------------------
  const curves = [["loss", "loss"], ["accuracy", "accuracy"], ["val_loss", "validation loss"], ["val_accuracy", "validation accuracy"], ["learning_rate", "learning rate"]];

  const epochAxis = { label: "epoch", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500], values: (u, splits) => splits.map(String) };
  // Tick labels of three significant digits (0.00075, not 0.001 five times), wide enough for them.
  const valueAxis = { size: 70, values: (u, splits) => splits.map(v => v == null ? "" : String(+v.toPrecision(3))) };

  // One chart per quantity, one series per run: x is the epoch.
  function curveCharts(holder, entries, size) {
    const epochs = [...new Set(entries.flatMap(e => e.history.map(h => h.epoch)))].sort((a, b) => a - b);
    for (const [key, title] of curves) {
      const box = el("div", { class: "chart", "data-curve": key }, el("h3", {}, title));
      holder.append(box);
      const series = entries.map((e, i) => {
        const at = new Map(e.history.map(h => [h.epoch, h[key]]));
        return epochs.map(x => at.has(x) ? at.get(x) : null);
      });
      charts.push(new uPlot({
        width: size || 380, height: 220, scales: { x: { time: false } }, legend: { live: false },
        axes: [epochAxis, valueAxis],
        series: [{ label: "epoch" }, ...entries.map((e, i) => ({ label: e.label, stroke: palette[i % palette.length], width: 2, points: { show: true, size: 5 }, spanGaps: true }))],
      }, [epochs, ...series], box));
    }
  }

  function confusionTable(classes, matrix, caption) {
    const max = Math.max(1, ...matrix.flat().filter(v => typeof v === "number"));
    const table = el("table", { class: "plain confusion" }, caption ? el("caption", {}, caption) : null,
      el("tr", {}, el("th", {}, "true \\ predicted"), classes.map(c => el("th", {}, c))));
    matrix.forEach((row, i) => table.append(el("tr", {}, el("th", {}, classes[i] != null ? classes[i] : String(i)), row.map((v, j) => {
      const t = Math.log1p(v) / Math.log1p(max);
      const cell = el("td", { title: `true ${classes[i]}, predicted ${classes[j]}: ${v}` }, v);
      cell.style.background = i === j ? `hsl(215, 70%, ${95 - 50 * t}%)` : v ? `hsl(5, 75%, ${95 - 45 * t}%)` : "";
      if (t > 0.6) cell.style.color = "#fff";
      return cell;
    }))));
    return table;
  }

  const classNames = test => (test.classes || []).map(c => c.class);

  // ---- several runs side by side ------------------------------------------------------------------------------
  function renderCompare(root, argument) {
    const ids = argument ? argument.split(",") : [...state.selected];
    const chosen = ids.map(id => byId.get(id)).filter(Boolean);
    if (!chosen.length) {
      root.append(el("p", { class: "empty" }, "Select runs in the experiments table (the boxes at the left of each row) to compare them here."));
      return;
    }
    root.append(el("h2", {}, `${chosen.length} runs: ` + chosen.map(label).join(", ")));
    // The parameters that differ between them and every metric (the first run is the base of the changes).
    const keys = allParameters.filter(k => new Set(chosen.map(r => show(param(r, k)))).size > 1);
    const diff = el("table", { class: "plain", id: "parameter-diff" }, el("tr", {}, el("th", {}, "parameter"), chosen.map(r => el("th", {}, label(r)))));
    for (const k of keys) diff.append(el("tr", {}, el("td", {}, k), chosen.map(r => el("td", {}, show(param(r, k))))));
    diff.append(el("tr", {}, el("th", {}, "metric"), chosen.map((r, i) => el("th", {}, i ? "value (change)" : "value"))));
    for (const m of metrics) {
      const base = chosen[0].metrics ? chosen[0].metrics[m.name] : null;
      diff.append(el("tr", {}, el("td", {}, m.name), chosen.map((r, i) => {
        const v = r.metrics ? r.metrics[m.name] : null;
        const change = i && typeof v === "number" && typeof base === "number" ? ` (${v - base >= 0 ? "+" : ""}${number(m.name, v - base)})` : "";
        return el("td", { class: "number" }, number(m.name, v) + change);
      })));
    }
    if (!keys.length) root.append(el("p", { class: "muted" }, "Every parameter is the same in these runs."));
    root.append(diff);

    const withHistory = chosen.filter(r => details[r.id] && details[r.id].history).map(r => ({ label: label(r), history: details[r.id].history }));
    root.append(el("h2", {}, "Training curves"));
    const missing = chosen.filter(r => !(details[r.id] && details[r.id].history));
    if (missing.length) root.append(el("p", { class: "problem" }, "No training history for " + missing.map(label).join(", ") + " (the run cache no longer holds it)."));
    const holder = el("div", { class: "charts", id: "compare-curves" });
    root.append(holder);
    if (withHistory.length) curveCharts(holder, withHistory, 380);

    const tested = chosen.filter(r => details[r.id] && details[r.id].test && details[r.id].test.confusion);
    if (tested.length) {
      root.append(el("h2", {}, "Per-class F1"));
      const classes = classNames(details[tested[0].id].test);
      const f1 = el("table", { class: "plain", id: "per-class-f1" }, el("tr", {}, el("th", {}, "class"), tested.map(r => el("th", {}, label(r)))));
      classes.forEach((c, i) => f1.append(el("tr", {}, el("td", {}, c), tested.map(r => {
        const scores = details[r.id].test.classes[i];
        return el("td", { class: "number" }, scores ? scores.f1.toFixed(4) : "");
      }))));
      root.append(f1, el("h2", {}, "Confusion matrices"),
        el("div", { class: "side" }, tested.map(r => confusionTable(classNames(details[r.id].test), details[r.id].test.confusion, label(r)))));
    }
  }

  // ---- one run ------------------------------------------------------------------------------------------------
  function renderRun(root, id) {
    const run = byId.get(id);
    if (!run) { root.append(el("p", { class: "empty" }, `No experiment ${id} in this report.`)); return; }
    const detail = details[run.id] || {};
    root.append(el("h2", { id: "run-title" }, `${label(run)} (${run.id}), ${run.created} UTC`));
    for (const problem of run.problems || []) root.append(el("p", { class: "problem" }, "Missing: " + problem));

    const test = detail.test, transfer = detail.transfer;
    const models = [test, transfer].filter(Boolean);
    const headline = el("table", { class: "plain", id: "run-metrics" }, el("tr", {}, el("th", {}, "metric"), models.length ? models.map(m => el("th", {}, m.model)) : el("th", {}, "value")));
    if (models.length) {
      for (const [key, title] of [["accuracy", "categorical accuracy"], ["binary_accuracy", "binary accuracy"], ["loss", "loss"], ["macro_f1", "macro F1"]])
        headline.append(el("tr", {}, el("td", {}, title), models.map(m => el("td", { class: "number" }, typeof m[key] === "number" ? m[key].toFixed(4) : ""))));
      headline.append(el("tr", {}, el("td", {}, "test images"), models.map(m => el("td", { class: "number" }, m.count))));
    } else {
      for (const m of metrics) headline.append(el("tr", {}, el("td", {}, m.name), el("td", { class: "number" }, number(m.name, run.metrics[m.name]))));
    }
    root.append(el("h2", {}, "Results on the test split"), headline);
    const best = detail.best;
    const last = detail.history && detail.history.length ? detail.history[detail.history.length - 1] : null;
    if (best && last)
      root.append(el("p", { id: "best-validation" }, `Best validation accuracy ${best.val_accuracy.toFixed(4)} at epoch ${best.epoch} ` +
        `(the last epoch's: ${last.val_accuracy.toFixed(4)}); lowest validation loss ${best.val_loss.toFixed(4)}.`));
    if (typeof run.metrics.train_seconds === "number") root.append(el("p", {}, `Training took ${run.metrics.train_seconds.toFixed(1)} s.`));

    if (detail.history) {
      root.append(el("h2", {}, "Training"));
      const holder = el("div", { class: "charts", id: "run-curves" });
      root.append(holder);
      curveCharts(holder, [{ label: label(run), history: detail.history }], 340);
      const epochs = el("table", { class: "plain" }, el("tr", {}, ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning rate"].map(h => el("th", {}, h))));
      for (const h of detail.history)
        epochs.append(el("tr", {}, el("td", {}, h.epoch), [h.loss, h.accuracy, h.val_loss, h.val_accuracy].map(v => el("td", { class: "number" }, v.toFixed(4))),
          el("td", { class: "number" }, String(+h.learning_rate.toPrecision(6)))));
      root.append(epochs);
    }
    if (test && test.classes) {
      root.append(el("h2", {}, "Per class"));
      const perClass = el("table", { class: "plain", id: "per-class" }, el("tr", {}, ["class", "precision", "recall", "F1", "images", ...(transfer ? [`F1 of ${transfer.model}`] : [])].map(h => el("th", {}, h))));
      test.classes.forEach((c, i) => perClass.append(el("tr", {}, el("td", {}, c.class), [c.precision, c.recall, c.f1].map(v => el("td", { class: "number" }, v.toFixed(4))),
        el("td", { class: "number" }, c.support), transfer && transfer.classes[i] ? el("td", { class: "number" }, transfer.classes[i].f1.toFixed(4)) : null)));
      root.append(perClass);
      root.append(el("h2", {}, "Confusion matrix"), el("p", { class: "muted" }, "Rows are the true class, columns the predicted one (colour on a log scale, so single mistakes show)."));
      const side = el("div", { class: "side", id: "run-confusion" }, confusionTable(classNames(test), test.confusion, test.model));
      if (transfer && transfer.confusion) side.append(confusionTable(classNames(transfer), transfer.confusion, transfer.model));
      root.append(side);
    }
    if (detail.gallery)
      root.append(el("h2", {}, "Misclassified test images"), el("p", { class: "muted" }, "Each caption reads true → predicted."),
        el("img", { class: "gallery", src: detail.gallery, alt: "misclassified test images" }));
    if (detail.stages) {
      root.append(el("h2", {}, "Stages of this run"));
      const stages = el("table", { class: "plain", id: "run-stages" }, el("tr", {}, ["stage", "result", "duration", "started (UTC)", "peak RSS", "fingerprint", "in the run cache"].map(h => el("th", {}, h))));
      for (const s of detail.stages)
        stages.append(el("tr", {}, el("td", {}, s.stage), el("td", {}, s.result || "not recorded"),
          el("td", { class: "number" }, typeof s.duration_seconds === "number" ? s.duration_seconds.toFixed(2) + " s" : ""),
          el("td", {}, s.started || ""), el("td", { class: "number" }, typeof s.peak_rss_mb === "number" ? s.peak_rss_mb + " MB" : ""),
          el("td", {}, s.fingerprint), el("td", { class: s.recorded ? null : "problem" }, s.recorded ? "yes" : "no")));
      root.append(stages, el("p", { class: "muted" }, "Result: what this run did with the stage (executed, restored from the cache, up to date); peak RSS: the host process's peak resident memory by the stage's end."));
    }
    // Every parameter, those that differ between the runs first.
    const parameters = el("table", { class: "plain", id: "run-parameters" }, el("tr", {}, el("th", {}, "parameter"), el("th", {}, "value")));
    for (const k of [...varying, ...allParameters.filter(k => !varying.includes(k))])
      parameters.append(el("tr", { class: varying.includes(k) ? "varying" : null }, el("td", {}, k), el("td", {}, show(param(run, k)))));
    root.append(el("details", {}, el("summary", {}, el("h2", {}, `Parameters (${allParameters.length}; those that differ between runs first)`)), parameters));
    if (detail.report) root.append(el("p", {}, el("a", { href: detail.report, id: "full-report" }, "Evaluate's full report (report.html: model, parameters, versions)")));
  }

  // ---- live: a training run's epochs as they come (only when served) ------------------------------------------
  function startLive() {
    const panel = document.getElementById("live");
    let chart = null, seen = false;
    async function poll() {
      let live;
      try {
        const response = await fetch("live.json", { cache: "no-store" });
        live = await response.json();
      } catch (error) {
        panel.hidden = false;
        panel.replaceChildren(el("span", { class: "problem" }, "The report server does not answer (stopped?)."));
        return setTimeout(poll, 5000);
      }
      const stage = (live.stages || []).find(s => s.history && s.history.length);
      if (stage) {
        seen = true;
        panel.hidden = false;
        const last = stage.history[stage.history.length - 1];
        const status = el("p", { id: "live-status" }, `Training now: ${stage.stage}, `, el("span", { id: "live-epochs" }, String(stage.history.length)),
          ` epochs so far (epoch ${last.epoch}: loss ${last.loss.toFixed(4)}, val_accuracy ${last.val_accuracy.toFixed(4)}; updated ${stage.updated} UTC).`);
        const box = el("div", { id: "live-chart" });
        if (chart) chart.destroy();
        panel.replaceChildren(status, box);
        const h = stage.history;
        chart = new uPlot({
          width: Math.min(900, Math.max(500, main.clientWidth - 40)), height: 220, scales: { x: { time: false }, accuracy: { range: [null, 1] } },
          legend: { live: false },
          axes: [epochAxis, { ...valueAxis, label: "loss" }, { ...valueAxis, label: "accuracy", scale: "accuracy", side: 1, grid: { show: false } }],
          series: [{ label: "epoch" },
            { label: "loss", stroke: palette[0], width: 2, points: { show: true } }, { label: "val_loss", stroke: palette[1], width: 2, points: { show: true } },
            { label: "accuracy", stroke: palette[2], width: 2, scale: "accuracy", points: { show: true } }, { label: "val_accuracy", stroke: palette[3], width: 2, scale: "accuracy", points: { show: true } }],
        }, [h.map(e => e.epoch), h.map(e => e.loss), h.map(e => e.val_loss), h.map(e => e.accuracy), h.map(e => e.val_accuracy)], box);
      } else if (seen && !panel.querySelector(".finished")) {
        panel.prepend(el("p", { class: "finished" }, live.running ? "The training stage finished; the run goes on." : "The run finished: reload the page to see its experiment."));
      } else if (!seen && live.running) {
        panel.hidden = false;
        panel.replaceChildren(el("p", { id: "live-status", class: "muted" }, `A run is going on (${live.holder}); no training stage is at work yet.`));
      }
      setTimeout(poll, 1000);
    }
    poll();
  }

  route.nav = () => {
    const link = document.querySelector('#nav a[href="#compare"]');
    if (link) link.textContent = state.selected.size ? `${views.compare.title} (${state.selected.size})` : views.compare.title;
  };
  document.getElementById("source").textContent = `${data.artifacts}, ${data.generated}` + (served ? " (served: live)" : "");
  route();
  if (served) startLive();
})();
