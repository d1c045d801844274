// The page's logic: camera -> processing-size frame -> style network (onnxruntime-web) -> canvas.
//
// onnxruntime-web comes from node_modules beside this page (npm) or the cache, served under /ort/ by `realtime web`; no CDN.
// Backend: WebGPU when the browser offers a hardware adapter, else WebAssembly on the CPU (threaded when
// the page is cross-origin isolated, which the server arranges). The I/O convention of each style
// (colour order, value range, size multiple) comes from /styles.json, read from the model's metadata.
// A multi-style network (one file, several styles) gets a morph: style A, style B and a slider between
// them, fed to its weights input with every frame (one session: moving the slider reloads nothing); on
// WebAssembly the page runs its CPU copy (NAME-lite) when one is installed, as `--net auto` does on a CPU.
// A test (or a curious user) reads progress from window.realtimeStatus.

const ORT_URL = '/ort/ort.min.mjs';
const TOUR_STAY_S = 4;  // the tour rests on each style this long ...
const TOUR_GLIDE_S = 2; // ... then glides to the next over this long, as the webcam's tour (g) does
let ort = null; // the onnxruntime-web module, imported in main() so that a failure can be reported

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

/** Everything the loop and the UI share; also what window.realtimeStatus shows. */
const status = {
  ready: false,       // a session and a camera are both up
  frames: 0,          // stylised frames drawn since the last style/backend change
  backend: null,      // 'webgpu' or 'wasm'
  backendNote: '',    // why WebGPU was not used, when it was not
  threads: 1,
  style: null,
  mix: null,          // a multi-style network's mix for the last frame drawn: {style: weight}, weights sum to 1
  mixText: '',        // the same as people read it: "mosaic 60% + candy 40%"
  tour: false,        // the tour is gliding through the network's styles
  model: null,        // the file the session runs (a network's CPU copy on WASM when installed)
  sessions: 0,        // sessions built since the page opened (a mix change builds none)
  width: 0,           // processing size
  height: 0,
  fps: 0,
  msPerFrame: 0,
  paused: false,      // true once the loop has really stopped (the last pair stays on the canvases)
  camera: null,       // {width, height, label}
  error: null,        // every current problem, one per line (null when none)
  errors: {},         // the same by kind: camera, style, run, page
};
window.realtimeStatus = status;

const state = {
  styles: [],         // from /styles.json: the one-style networks, then the multi-style ones (with .styles)
  session: null,
  io: null,
  mixing: null,       // for a multi-style network's session: {styles, input} (its weights input's name)
  morph: { a: null, b: null, t: 0 }, // the mix asked for: t of the way from style a to style b
  tour: null,         // {start, order}: performance.now() when the tour began, the styles in its order
  want: null,         // {style, backend}: the session the UI asks for; the loop builds it
  pauseAsked: false,
  times: [],          // end times of recent frames, for fps
  errors: {},
};

/** Problems by kind (camera, style, run, page), all shown at once; a fixed one is cleared by its kind. */
function showError(kind, message) {
  state.errors[kind] = message;
  renderErrors();
}

function clearError(kind) {
  if (!(kind in state.errors)) return;
  delete state.errors[kind];
  renderErrors();
}

function renderErrors() {
  const messages = Object.values(state.errors);
  status.errors = { ...state.errors };
  status.error = messages.length ? messages.join('\n') : null;
  $('error').textContent = status.error || '';
  $('error').hidden = !messages.length;
}

function showStatus() {
  const parts = [];
  if (status.backend) {
    const threads = status.backend === 'wasm' ? ` (${status.threads} thread${status.threads > 1 ? 's' : ''})` : '';
    parts.push(`backend ${status.backend}${threads}${status.backendNote ? ` [${status.backendNote}]` : ''}`);
  }
  if (status.style) {
    const file = status.model ? status.model.split('/').pop().replace(/\.onnx$/, '') : '';
    const style = file && file !== status.style ? `${status.style} (${file})` : status.style; // a network's CPU copy
    parts.push(status.mixText ? `style ${style}: ${status.mixText}` : `style ${style}`);
  }
  if (status.tour) parts.push('tour');
  if (status.width) parts.push(`${status.width}\u00d7${status.height}`);
  if (status.frames) parts.push(`${status.fps.toFixed(1)} fps`, `${status.msPerFrame.toFixed(0)} ms/frame`);
  if (status.paused) parts.push('paused');
  $('status').textContent = parts.join(' \u00b7 ') || 'starting\u2026';
}

function describeCameraError(err) {
  switch (err && err.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Camera access was refused. Allow the camera for this site in the browser and reload, or pick a video file.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera was found. Connect one and reload, or pick a video file.';
    case 'NotReadableError':
    case 'AbortError':
      return 'The camera could not be started (is another program using it?). Close it and reload, or pick a video file.';
    default:
      return `The camera could not be opened: ${err && err.message ? err.message : err}. Or pick a video file.`;
  }
}

async function startCamera(video) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error('This page has no camera access: browsers allow it only on https:// or http://localhost ' +
                    '(open the address `realtime web` printed). You can still pick a video file.');
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false });
  } catch (err) {
    throw new Error(describeCameraError(err));
  }
  video.srcObject = stream;
  await video.play();
  const track = stream.getVideoTracks()[0];
  status.camera = { width: video.videoWidth, height: video.videoHeight, label: track ? track.label : '' };
}

function playFile(video, file) {
  if (video.srcObject) {
    video.srcObject.getTracks().forEach((t) => t.stop());
    video.srcObject = null;
  }
  video.src = URL.createObjectURL(file);
  video.loop = true;
  video.play().catch((err) => showError('camera', `Cannot play ${file.name}: ${err.message}`));
  status.camera = { width: 0, height: 0, label: file.name };
  clearError('camera');
}

/** WebGPU only when there is a real (hardware) adapter: a software one is slower than WASM. */
async function webgpuUsable() {
  if (!('gpu' in navigator)) return [false, 'no WebGPU in this browser'];
  try {
    const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) return [false, 'no WebGPU adapter'];
    if (adapter.info && adapter.info.isFallbackAdapter) return [false, 'only a software WebGPU adapter'];
    return [true, ''];
  } catch (err) {
    return [false, `WebGPU failed: ${err.message}`];
  }
}

async function fetchModel(style) {
  const response = await fetch(style.url);
  if (!response.ok) throw new Error(`${style.url}: HTTP ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** The file a style runs from on a backend: a multi-style network's CPU copy on WASM when installed. */
function fileFor(style, backend) {
  return backend === 'wasm' && style.cpu ? style.cpu : style;
}

async function download(style, file) {
  try {
    return await fetchModel(file);
  } catch (err) {
    throw new Error(`The style "${style.name}" could not be downloaded: ${err.message}`);
  }
}

/** Build the session the UI asked for; WebGPU falls back to WASM (said in the status) when it fails. */
async function buildSession(want) {
  const style = state.styles.find((s) => s.name === want.style);
  if (!style) throw new Error(`Unknown style ${want.style}`);
  let backend = want.backend;
  let note = '';
  if (backend === 'auto') {
    const [ok, why] = await webgpuUsable();
    backend = ok ? 'webgpu' : 'wasm';
    note = why;
  }
  let file = fileFor(style, backend);
  const bytes = await download(style, file);
  let session;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: [backend], graphOptimizationLevel: 'all' });
  } catch (err) {
    if (backend !== 'webgpu' || want.backend === 'webgpu') {
      throw new Error(`The style "${style.name}" failed to load on ${backend}: ${err.message}`);
    }
    note = `WebGPU failed: ${err.message}`;
    backend = 'wasm';
    const cpu = fileFor(style, backend);
    const cpuBytes = cpu === file ? bytes : await download(style, cpu);
    file = cpu;
    session = await ort.InferenceSession.create(cpuBytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' })
      .catch((err2) => { throw new Error(`The style "${style.name}" failed to load: ${err2.message}`); });
  }
  return { session, backend, note, style, file };
}

/** Smoothstep, so a tour's glide starts and ends without a jolt; `unease` is its inverse. */
const ease = (t) => { const c = Math.min(1, Math.max(0, t)); return c * c * (3 - 2 * c); };
const unease = (y) => 0.5 - Math.sin(Math.asin(1 - 2 * Math.min(1, Math.max(0, y))) / 3);

/** The morph's mix as {style: weight} (weights sum to 1, none zero): one-hot at either end. */
function currentMix() {
  const { a, b, t } = state.morph;
  const mix = {};
  if (1 - t > 0) mix[a] = 1 - t;
  if (t > 0) mix[b] = (mix[b] || 0) + t;
  return mix;
}

/** A mix as people read it: `mosaic`, or `mosaic 60% + candy 40%` (largest first). */
function describeMix(mix) {
  const entries = Object.entries(mix).sort((x, y) => y[1] - x[1]);
  if (entries.length === 1) return entries[0][0];
  return entries.map(([name, w]) => `${name} ${Math.round(w * 100)}%`).join(' + ');
}

/** The weights input's values for a mix, in the network's order of styles. */
function mixWeights(mix, styles) {
  return Float32Array.from(styles, (name) => mix[name] || 0);
}

/** The tour's order: A, B, then the network's other styles in its order after B, round and round. */
function tourOrder(styles, a, b) {
  const after = styles.indexOf(b) + 1;
  const rest = [...styles.slice(after), ...styles.slice(0, after)].filter((name) => name !== a && name !== b);
  return a === b ? [a, ...rest] : [a, b, ...rest];
}

/** Where the tour is at `now`: it rests on a style, then glides to the next, round its order. */
function tourStep(now) {
  const { order } = state.tour;
  const cycle = TOUR_STAY_S + TOUR_GLIDE_S;
  const elapsed = Math.max(0, (now - state.tour.start) / 1000);
  const lap = Math.floor(elapsed / cycle);
  const into = elapsed - lap * cycle;
  state.morph.a = order[lap % order.length];
  state.morph.b = order[(lap + 1) % order.length];
  state.morph.t = into < TOUR_STAY_S ? 0 : ease((into - TOUR_STAY_S) / TOUR_GLIDE_S);
  showMorph();
}

/** The morph's controls as state.morph has them. */
function showMorph() {
  $('mix-a').value = state.morph.a;
  $('mix-b').value = state.morph.b;
  $('mix-t').value = String(Math.round(state.morph.t * 100));
  $('mix-text').textContent = describeMix(currentMix());
  $('tour').textContent = state.tour ? 'stop tour' : 'tour';
}

/** Show the morph for a multi-style network's styles (keeping A, B and the slider where they still apply),
 *  or hide it for a one-style network. */
function setUpMorph(mixing) {
  state.mixing = mixing;
  state.tour = null;
  status.tour = false;
  $('morph').hidden = !mixing;
  if (!mixing) return;
  const { styles } = mixing;
  for (const id of ['mix-a', 'mix-b']) {
    $(id).replaceChildren(...styles.map((name) => new Option(name, name)));
  }
  if (!styles.includes(state.morph.a)) state.morph.a = styles[0];
  if (!styles.includes(state.morph.b)) state.morph.b = styles[Math.min(1, styles.length - 1)];
  $('tour').disabled = styles.length < 2;
  showMorph();
}

function processingSize(video, multiple) {
  const vw = video.videoWidth;
  const vh = video.videoHeight;
  const wanted = Number($('width').value) || 320;
  const m = Math.max(1, multiple || 1);
  const w = Math.max(m, Math.floor(wanted / m) * m);
  const h = Math.max(m, Math.round((w * vh) / vw / m) * m);
  return [w, h];
}

/** One frame: draw the camera at the processing size, run the network, draw the result. */
async function stylise(video) {
  const io = state.io;
  const [w, h] = processingSize(video, io.pad_multiple);
  const input = $('input');
  const output = $('stylised');
  if (input.width !== w || input.height !== h) {
    input.width = output.width = w;
    input.height = output.height = h;
  }
  const ictx = input.getContext('2d', { willReadFrequently: true });
  ictx.save();
  if ($('mirror').checked) {
    ictx.translate(w, 0);
    ictx.scale(-1, 1);
  }
  ictx.drawImage(video, 0, 0, w, h);
  ictx.restore();
  const rgba = ictx.getImageData(0, 0, w, h).data;

  const plane = w * h;
  const scale = io.value_range === '0-1' ? 1 / 255 : 1;
  const [c0, c2] = io.color_order === 'BGR' ? [2, 0] : [0, 2];
  const data = new Float32Array(3 * plane);
  for (let i = 0, p = 0; i < plane; i += 1, p += 4) {
    data[i + c0 * plane] = rgba[p] * scale;
    data[i + plane] = rgba[p + 1] * scale;
    data[i + c2 * plane] = rgba[p + 2] * scale;
  }
  const feeds = { [state.session.inputNames[0]]: new ort.Tensor('float32', data, [1, 3, h, w]) };
  let mix = null;
  if (state.mixing) {
    if (state.tour) tourStep(performance.now());
    mix = currentMix();
    const weights = mixWeights(mix, state.mixing.styles);
    feeds[state.mixing.input] = new ort.Tensor('float32', weights, [1, weights.length]);
  }
  const results = await state.session.run(feeds);
  const result = results[state.session.outputNames[0]];
  const out = result.location === 'cpu' ? result.data : await result.getData();
  const [oh, ow] = [result.dims[2], result.dims[3]];
  if (oh < h || ow < w) throw new Error(`the network returned ${ow}x${oh} for a ${w}x${h} frame`);

  const image = new ImageData(w, h);
  const pixels = image.data; // Uint8ClampedArray: clips to 0..255 and rounds
  const back = io.value_range === '0-1' ? 255 : 1;
  const oplane = ow * oh;
  for (let y = 0; y < h; y += 1) {
    for (let x = 0; x < w; x += 1) {
      const i = y * ow + x;
      const p = (y * w + x) * 4;
      pixels[p] = out[i + c0 * oplane] * back;
      pixels[p + 1] = out[i + oplane] * back;
      pixels[p + 2] = out[i + c2 * oplane] * back;
      pixels[p + 3] = 255;
    }
  }
  output.getContext('2d').putImageData(image, 0, 0);
  if (result.dispose) result.dispose();
  status.width = w;
  status.height = h;
  if (mix) {
    const text = describeMix(mix);
    if (text !== status.mixText) $('stylised-caption').textContent = `stylised: ${status.style} (${text})`;
    status.mix = mix;
    status.mixText = text;
  }
}

function countFrame(started) {
  const now = performance.now();
  state.times.push(now);
  if (state.times.length > 20) state.times.shift();
  const span = (now - state.times[0]) / 1000;
  status.fps = state.times.length > 1 && span > 0 ? (state.times.length - 1) / span : 1000 / (now - started);
  status.msPerFrame = now - started;
  status.frames += 1;
}

/** Wait for the next display frame, but never longer than 100 ms (hidden or headless pages). */
function nextTick() {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 100);
    requestAnimationFrame(() => { clearTimeout(timer); resolve(); });
  });
}

/** The only place sessions are created, run and released, so a style change never races a frame. */
async function loop(video) {
  for (;;) {
    if (state.want) {
      const want = state.want;
      state.want = null;
      status.ready = false;
      $('stylised-caption').textContent = `loading ${want.style}\u2026`;
      try {
        const built = await buildSession(want);
        if (state.session) await state.session.release();
        state.session = built.session;
        state.io = built.file.io;
        setUpMorph(built.style.styles ? { styles: built.file.styles, input: built.file.weights_input } : null);
        Object.assign(status, { backend: built.backend, backendNote: built.note, style: built.style.name,
                                frames: 0, fps: 0, mix: null, mixText: '', model: built.file.url,
                                sessions: status.sessions + 1 });
        state.times = [];
        $('stylised-caption').textContent = `stylised: ${built.style.name}`;
        clearError('style');
      } catch (err) {
        showError('style', err.message);
        $('stylised-caption').textContent = state.session
          ? `stylised: ${status.style} (${want.style} did not load)` : 'stylised (no style loaded)';
      }
      showStatus();
    }
    if (status.paused !== state.pauseAsked) {
      status.paused = state.pauseAsked;
      showStatus();
    }
    const live = video.readyState >= 2 && video.videoWidth > 0;
    if (state.session && live && !state.pauseAsked) {
      status.ready = true;
      const started = performance.now();
      try {
        await stylise(video);
        countFrame(started);
        clearError('run');
      } catch (err) {
        showError('run', `Stylising failed: ${err.message}`);
        state.pauseAsked = true;
        $('pause').textContent = 'resume';
      }
      showStatus();
    }
    await nextTick();
  }
}

async function loadStyles() {
  const response = await fetch('/styles.json');
  if (!response.ok) throw new Error(`/styles.json: HTTP ${response.status}`);
  const listing = await response.json();
  return [...(listing.styles || []), ...(listing.networks || [])];
}

function setUpControls(video) {
  const ask = () => { state.want = { style: $('style').value, backend: $('backend').value }; };
  $('style').addEventListener('change', ask);
  $('backend').addEventListener('change', ask);
  $('width').addEventListener('change', () => { state.times = []; });
  $('pause').addEventListener('click', () => {
    state.pauseAsked = !state.pauseAsked;
    $('pause').textContent = state.pauseAsked ? 'resume' : 'pause';
  });
  $('file').addEventListener('change', (event) => {
    if (event.target.files.length) playFile(video, event.target.files[0]);
  });
  // The morph changes only what the next frame feeds the network; the session stays.
  const morphed = () => {
    state.tour = null;
    status.tour = false;
    state.morph = { a: $('mix-a').value, b: $('mix-b').value, t: Number($('mix-t').value) / 100 };
    showMorph();
  };
  for (const id of ['mix-a', 'mix-b']) $(id).addEventListener('change', morphed);
  $('mix-t').addEventListener('input', morphed);
  $('tour').addEventListener('click', () => {
    if (state.tour || !state.mixing) {
      morphed();
      return;
    }
    // On from where the slider is: the first glide goes from A to B and starts at its mix, without a jump.
    const { a, b, t } = state.morph;
    const into = t > 0 && a !== b ? TOUR_STAY_S + unease(t) * TOUR_GLIDE_S : 0;
    state.tour = { start: performance.now() - into * 1000, order: tourOrder(state.mixing.styles, a, b) };
    status.tour = true;
    tourStep(performance.now());
  });
  return ask;
}

async function main() {
  const video = $('camera');
  try {
    ort = await import(ORT_URL);
  } catch (err) {
    showError('page', `onnxruntime-web could not be loaded from ${ORT_URL} (${err.message}): run \`realtime web\` again with npm installed ` +
              'and restart `realtime web`.');
    return;
  }
  ort.env.wasm.wasmPaths = new URL('/ort/', location.href).href;
  status.threads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  ort.env.wasm.numThreads = status.threads;
  ort.env.logLevel = 'warning';

  for (const [key, id] of [['width', 'width'], ['backend', 'backend']]) {
    if (params.has(key)) $(id).value = params.get(key);
  }
  $('mirror').checked = params.get('mirror') === '1';
  const ask = setUpControls(video);

  try {
    state.styles = await loadStyles();
  } catch (err) {
    showError('page', `The list of styles could not be loaded (${err.message}); is \`realtime web\` still running?`);
    return;
  }
  if (!state.styles.length) {
    showError('page', 'No styles are installed (see `realtime styles`).');
    return;
  }
  const blends = document.createElement('optgroup');
  blends.label = 'multi-style networks (morph)';
  for (const s of state.styles) {
    const option = new Option(s.styles ? `${s.name}: ${s.styles.join(', ')}` : s.name, s.name);
    option.title = s.note || '';
    (s.styles ? blends : $('style')).append(option);
  }
  if (blends.children.length) $('style').append(blends);
  $('style').disabled = false;
  const wanted = params.get('style');
  if (wanted && state.styles.some((s) => s.name === wanted)) $('style').value = wanted;
  ask();

  const running = loop(video);
  try {
    await startCamera(video);
  } catch (err) {
    showError('camera', err.message);
  }
  await running;
}

main().catch((err) => showError('page', `Unexpected error: ${err && err.stack ? err.stack : err}`));
