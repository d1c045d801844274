// The page's logic: camera -> processing-size frame -> style network (onnxruntime-web) -> canvas.
//
// onnxruntime-web comes from node_modules beside this page (npm) or the cache, served under /ort/ by `realtime web`; no CDN.
// Backend: WebGPU when the browser offers a hardware adapter, else WebAssembly on the CPU (threaded when
// the page is cross-origin isolated, which the server arranges). The I/O convention of each style
// (colour order, value range, size multiple) comes from /styles.json, read from the model's metadata.
// A test (or a curious user) reads progress from window.realtimeStatus.

const ORT_URL = '/ort/ort.min.mjs';
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
  styles: [],         // from /styles.json
  session: null,
  io: null,
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
  if (status.style) parts.push(`style ${status.style}`);
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

/** Build the session the UI asked for; WebGPU falls back to WASM (said in the status) when it fails. */
async function buildSession(want) {
  const style = state.styles.find((s) => s.name === want.style);
  if (!style) throw new Error(`Unknown style ${want.style}`);
  let bytes;
  try {
    bytes = await fetchModel(style);
  } catch (err) {
    throw new Error(`The style "${style.name}" could not be downloaded: ${err.message}`);
  }
  let backend = want.backend;
  let note = '';
  if (backend === 'auto') {
    const [ok, why] = await webgpuUsable();
    backend = ok ? 'webgpu' : 'wasm';
    note = why;
  }
  let session;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: [backend], graphOptimizationLevel: 'all' });
  } catch (err) {
    if (backend !== 'webgpu' || want.backend === 'webgpu') {
      throw new Error(`The style "${style.name}" failed to load on ${backend}: ${err.message}`);
    }
    note = `WebGPU failed: ${err.message}`;
    backend = 'wasm';
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' })
      .catch((err2) => { throw new Error(`The style "${style.name}" failed to load: ${err2.message}`); });
  }
  return { session, backend, note, style };
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
        state.io = built.style.io;
        Object.assign(status, { backend: built.backend, backendNote: built.note, style: built.style.name,
                                frames: 0, fps: 0 });
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
  return listing.styles || [];
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
  for (const s of state.styles) {
    const option = new Option(s.name, s.name);
    option.title = s.note || '';
    $('style').add(option);
  }
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
