// Live latent explorers in the static book: the same sliders as the notebook's LatentExplorer,
// with the stored decoder run in the page by onnxruntime-web (no kernel, no server).
//
// The book must work opened from disk (file://), where fetch() and ES-module imports are
// blocked. So everything arrives as classic <script> files written by tools/build_book.py:
//   _static/aenb/ort.wasm.min.js     onnxruntime-web (npm), the global `ort`
//   _static/aenb/ort-runtime.js      window.AENB_ORT = {glue: <its wasm loader, as text>, wasm: <base64>}
//   _static/aenb/decoders/<name>.js  window.AENB_DECODERS[<name>] = <the ONNX model, base64>
// The loader is handed to onnxruntime-web as a blob: URL and the binary as bytes, on one
// thread without a proxy worker. Each explorer <div class="aenb-explorer" data-decoder=...>
// holds its spec (sliders, image shape) as JSON from the notebook's stored output.
//
// After each drawn image the explorer's element gets `aenbDrawnZ` (the code drawn) and fires
// "aenb-drawn"; the book's test and latency benchmark wait for that event.
(function () {
  "use strict";

  let runtimeReady = null;

  function base64Bytes(text) {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  // Configure onnxruntime-web once per page, from the scripts above (no network, no fetch).
  function runtime() {
    if (!runtimeReady) {
      runtimeReady = (async () => {
        if (typeof ort === "undefined" || !window.AENB_ORT) {
          throw new Error("onnxruntime-web is not loaded (expected _static/aenb/ort.wasm.min.js and ort-runtime.js)");
        }
        ort.env.wasm.numThreads = 1;
        ort.env.wasm.proxy = false;
        ort.env.wasm.wasmBinary = base64Bytes(window.AENB_ORT.wasm);
        const glue = new Blob([window.AENB_ORT.glue], { type: "text/javascript" });
        ort.env.wasm.wasmPaths = { mjs: URL.createObjectURL(glue) };
      })();
    }
    return runtimeReady;
  }

  // Two decimals, as the notebook's readout; a grid point a rounding error off zero reads 0.00, not -0.00.
  function shown(value) {
    return (Math.abs(value) < 0.005 ? 0 : value).toFixed(2);
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  async function start(root) {
    const spec = JSON.parse(root.querySelector("script.aenb-explorer-spec").textContent);
    const [height, width] = spec.image_shape;
    const status = element("div", "aenb-status");
    const sliders = [];
    const readouts = [];
    const panel = element("div", "aenb-sliders");
    for (const s of spec.sliders) {
      const row = element("label", "aenb-slider-row");
      const input = element("input", "aenb-slider");
      // A range input snaps its value to min + n * step: start the grid at the stored code (moving min down by
      // less than one step), so the first image is the notebook's own, not a neighbour's.
      const min = s.value - Math.ceil((s.value - s.min) / s.step - 1e-9) * s.step;
      Object.assign(input, { type: "range", min, max: s.max, step: s.step });
      input.value = s.value;
      input.setAttribute("aria-label", s.name);
      const readout = element("span", "aenb-readout");
      row.append(element("span", "aenb-slider-name", s.name), input, readout);
      panel.append(row);
      sliders.push(input);
      readouts.push(readout);
    }
    const canvas = element("canvas", "aenb-decoded");
    Object.assign(canvas, { width, height });
    const figure = element("div", "aenb-figure");
    figure.append(element("b", "", "decoder(z)"), canvas);
    const body = element("div", "aenb-body");
    body.append(panel, figure);
    root.replaceChildren(...(spec.title ? [element("b", "aenb-title", spec.title)] : []), body, status);

    await runtime();
    const session = await ort.InferenceSession.create(base64Bytes(window.AENB_DECODERS[root.dataset.decoder]));
    const context = canvas.getContext("2d");
    let running = false;
    let pending = false;

    // One decode per animation of the hand: while a run is in flight, only the latest position waits.
    async function draw() {
      if (running) { pending = true; return; }
      running = true;
      try {
        do {
          pending = false;
          const z = sliders.map((input) => Number(input.value));
          sliders.forEach((input, i) => { readouts[i].textContent = (z[i] >= 0 ? "+" : "") + shown(z[i]); });
          const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", Float32Array.from(z), [1, z.length]) };
          const output = (await session.run(feeds))[session.outputNames[0]].data;
          const pixels = context.createImageData(width, height);
          for (let i = 0; i < width * height; i++) {
            const grey = Math.round(Math.min(1, Math.max(0, output[i])) * 255);
            pixels.data.set([grey, grey, grey, 255], 4 * i);
          }
          context.putImageData(pixels, 0, 0);
          const norm = Math.sqrt(z.reduce((sum, v) => sum + v * v, 0));
          status.textContent = "z = (" + z.map(shown).join(", ") + "); |z| = " + norm.toFixed(2);
          root.aenbDrawnZ = z;
          root.dispatchEvent(new CustomEvent("aenb-drawn", { detail: { z } }));
        } while (pending);
      } finally {
        running = false;
      }
    }
    sliders.forEach((input) => input.addEventListener("input", draw));
    await draw();
    root.classList.add("aenb-live");
  }

  function startAll() {
    for (const root of document.querySelectorAll("div.aenb-explorer[data-decoder]")) {
      start(root).catch((error) => {
        root.classList.add("aenb-failed");
        root.append(element("div", "aenb-error", "The live explorer could not start (" + error +
          "); the static snapshot below shows it."));
        console.error("aenb explorer:", error);
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", startAll);
  else startAll();
})();
