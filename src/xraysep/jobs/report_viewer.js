// The tile viewer of a panel's page (src/xraysep/jobs/report.py). Every pane shows one image
// of the panel from its PNG tiles, tiles/<image>/<level>/<row>_<col>.png, loaded by relative
// path (so the page works opened from disk). One view is shared by all panes: the wheel zooms
// about the cursor, dragging pans, a double-click shows the whole panel, and every pane
// follows. Only the tiles in sight are loaded, from the level that matches the zoom, over the
// coarsest level (one or a few tiles), which stays as a backdrop while finer tiles arrive.
// For tests, each pane's element says data-loaded="true" once its tiles in sight have
// loaded, data-errors how many failed, data-level the level shown and data-scale, data-x,
// data-y the view it shows; window.xraysepViewer gives the same.
"use strict";

(function () {
  const page = JSON.parse(document.getElementById("page-data").textContent);
  const [height, width] = page.shape;
  const coarsest = page.levels.length - 1;
  const MAX_SCALE = 32; // screen pixels per full-resolution pixel, zoomed in all the way

  // `scale` screen pixels per full-resolution pixel; (x, y): the full-resolution point at
  // the top-left corner of every pane.
  const view = { scale: 1, x: 0, y: 0 };

  function text(tag, content, className) {
    const element = document.createElement(tag);
    element.textContent = content;
    if (className) element.className = className;
    return element;
  }

  function describeRange(spec) {
    const [low, high] = spec.range.map((value) => value.toPrecision(3));
    if (spec.kind === "grey") return ` ${low} to ${high}, shared by the X-rays`;
    if (spec.kind === "own") return ` ${low} to ${high}, its own`;
    if (spec.kind === "heat") return ` ${low} to ${high}, magma`;
    return "";
  }

  function makePane(spec) {
    const element = document.createElement("figure");
    element.className = "pane";
    element.id = `pane-${spec.name}`;
    element.dataset.loaded = "false";
    const frame = document.createElement("div");
    frame.className = "frame";
    frame.style.aspectRatio = String(Math.min(2, Math.max(0.5, width / height)));
    const caption = document.createElement("figcaption");
    caption.append(text("span", spec.title), text("span", describeRange(spec), "range"));
    element.append(frame, caption);
    document.getElementById("panes").append(element);
    return { spec, element, frame, tiles: new Map() };
  }

  const panes = page.panes.map(makePane);

  // The coarsest level that still has a pixel for every device pixel (the finest when
  // zoomed in beyond full resolution).
  function levelShown() {
    const wanted = Math.floor(Math.log2(1 / (view.scale * window.devicePixelRatio)));
    return Math.max(0, Math.min(coarsest, wanted));
  }

  function updateLoaded(pane) {
    const images = [...pane.tiles.values()];
    pane.element.dataset.loaded = String(images.every((image) => image.complete));
    const failed = images.filter((image) => image.complete && image.naturalWidth === 0);
    pane.element.dataset.errors = String(failed.length);
  }

  function tileImage(pane, key, level) {
    let image = pane.tiles.get(key);
    if (!image) {
      image = new Image();
      image.alt = "";
      image.style.zIndex = String(coarsest - level + 1); // finer tiles over coarser ones
      image.onload = image.onerror = () => updateLoaded(pane);
      image.src = `tiles/${pane.spec.name}/${key}.png`;
      pane.frame.append(image);
      pane.tiles.set(key, image);
    }
    return image;
  }

  // Place the tiles of `level` that are in sight of a frame of (w, h) screen pixels.
  function placeLevel(pane, level, w, h, kept) {
    const [levelHeight, levelWidth] = page.levels[level];
    const factor = 2 ** level; // full-resolution pixels per pixel of the level
    const span = page.tile * factor; // full-resolution pixels per tile
    const rows = Math.ceil(levelHeight / page.tile);
    const cols = Math.ceil(levelWidth / page.tile);
    const first = [Math.floor(view.y / span), Math.floor(view.x / span)];
    const last = [
      Math.floor((view.y + h / view.scale) / span),
      Math.floor((view.x + w / view.scale) / span),
    ];
    const screen = (at, origin) => (at - origin) * view.scale;
    for (let row = Math.max(0, first[0]); row <= Math.min(rows - 1, last[0]); row++) {
      for (let col = Math.max(0, first[1]); col <= Math.min(cols - 1, last[1]); col++) {
        const key = `${level}/${row}_${col}`;
        const image = tileImage(pane, key, level);
        const tileWidth = Math.min(page.tile, levelWidth - col * page.tile) * factor;
        const tileHeight = Math.min(page.tile, levelHeight - row * page.tile) * factor;
        const left = Math.floor(screen(col * span, view.x));
        const top = Math.floor(screen(row * span, view.y));
        image.style.left = `${left}px`;
        image.style.top = `${top}px`;
        image.style.width = `${Math.ceil(screen(col * span + tileWidth, view.x)) - left}px`;
        image.style.height = `${Math.ceil(screen(row * span + tileHeight, view.y)) - top}px`;
        kept.add(key);
      }
    }
  }

  function render(pane) {
    const w = pane.frame.clientWidth;
    const h = pane.frame.clientHeight;
    const level = levelShown();
    const kept = new Set();
    for (const shown of new Set([coarsest, level])) placeLevel(pane, shown, w, h, kept);
    for (const [key, image] of pane.tiles) {
      if (!kept.has(key)) {
        image.remove();
        pane.tiles.delete(key);
      }
    }
    pane.frame.classList.toggle("pixels", view.scale > 1);
    Object.assign(pane.element.dataset, {
      level: String(level),
      scale: String(view.scale),
      x: String(view.x),
      y: String(view.y),
    });
    updateLoaded(pane);
  }

  function draw() {
    panes.forEach(render);
  }

  function fitScale() {
    const frame = panes[0].frame;
    return Math.min(frame.clientWidth / width, frame.clientHeight / height) || 1; // 0: hidden
  }

  // The whole panel, centred in every pane.
  function fit() {
    const frame = panes[0].frame;
    view.scale = fitScale();
    view.x = (width - frame.clientWidth / view.scale) / 2;
    view.y = (height - frame.clientHeight / view.scale) / 2;
    draw();
  }

  // Zoom by `factor` keeping the full-resolution point under (px, py) of a pane in place.
  function zoomAt(px, py, factor) {
    const scale = Math.min(MAX_SCALE, Math.max(fitScale() / 4, view.scale * factor));
    const pointX = view.x + px / view.scale;
    const pointY = view.y + py / view.scale;
    view.scale = scale;
    view.x = pointX - px / scale;
    view.y = pointY - py / scale;
    draw();
  }

  for (const { frame } of panes) {
    let dragging = null;
    frame.addEventListener(
      "wheel",
      (event) => {
        event.preventDefault();
        const box = frame.getBoundingClientRect();
        const lines = event.deltaMode === 1 ? 16 : 1; // some browsers count lines, not pixels
        const factor = Math.exp(-event.deltaY * lines * 0.002);
        zoomAt(event.clientX - box.left, event.clientY - box.top, factor);
      },
      { passive: false },
    );
    frame.addEventListener("pointerdown", (event) => {
      dragging = { x: event.clientX, y: event.clientY };
      frame.setPointerCapture(event.pointerId);
      frame.classList.add("dragging");
    });
    frame.addEventListener("pointermove", (event) => {
      if (!dragging) return;
      view.x -= (event.clientX - dragging.x) / view.scale;
      view.y -= (event.clientY - dragging.y) / view.scale;
      dragging = { x: event.clientX, y: event.clientY };
      draw();
    });
    const stop = () => {
      dragging = null;
      frame.classList.remove("dragging");
    };
    frame.addEventListener("pointerup", stop);
    frame.addEventListener("pointercancel", stop);
    frame.addEventListener("dblclick", fit);
  }
  window.addEventListener("resize", draw);

  function describePage() {
    document.getElementById("title").textContent = `Panel ${page.panel}`;
    const facts = [
      `${width} × ${height} pixels`,
      `method ${page.method}`,
      `model ${page.model_version}`,
      `${page.levels.length} level${page.levels.length === 1 ? "" : "s"} of ${page.tile}² tiles`,
      `made ${page.made}`,
    ];
    document.getElementById("facts").textContent = facts.join(" · ");
  }

  function metricsTable() {
    const section = document.getElementById("metrics");
    if (!page.metrics) {
      section.append(text("p", `None yet: \`xraysep evaluate ${page.panel}\` writes them.`));
      return;
    }
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    head.append(text("th", "approach"), ...page.columns.map(([, header]) => text("th", header)));
    const body = table.createTBody();
    for (const [approach, row] of Object.entries(page.metrics)) {
      const line = body.insertRow();
      line.append(text("th", approach));
      for (const [key] of page.columns) {
        const value = row[key];
        line.append(text("td", typeof value === "number" ? value.toFixed(4) : "–"));
      }
    }
    section.append(table);
  }

  describePage();
  metricsTable();
  fit();

  window.xraysepViewer = {
    view: () => ({ ...view }),
    level: levelShown,
    panes: () =>
      panes.map(({ spec, element }) => ({
        name: spec.name,
        loaded: element.dataset.loaded === "true",
        level: Number(element.dataset.level),
        scale: Number(element.dataset.scale),
        x: Number(element.dataset.x),
        y: Number(element.dataset.y),
      })),
  };
})();
