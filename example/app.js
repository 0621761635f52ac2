/*
 * webrtc-server example client: a full-mesh group video call.
 *
 * Plain browser JavaScript (an ES module), no build step, no external resources. The
 * signaling and the peer connections are the server's own client library,
 * `webrtc-server/client`, which the server serves as plain ES modules at /client/:
 *
 *   - `SignalingClient` connects to ws(s)://<this host>/websocket/<room>, authenticates,
 *     keeps the socket alive with `ping`, and when the socket drops reconnects with a
 *     capped, jittered backoff and joins again (with a new peer_id). It stops for good
 *     on `unauthorized`, on a kick, and on hang-up;
 *   - `MeshCall` keeps one RTCPeerConnection per other member: the newcomer offers to
 *     everyone in `peers`, earlier members answer; offers, answers and ICE candidates
 *     travel as {"event":…, "data":…, "to": peer_id} in the original example's format.
 *
 * ICE servers: on join the client fetches `/config.json` from the server that served the
 * page (`{"iceServers":[{"urls":"stun:HOST:PORT"},{"urls":"turn:HOST:PORT?transport=udp"},
 * {"urls":"turn:HOST:PORT?transport=tcp"},{"urls":"turns:HOST:TLSPORT"}]}` with its own
 * STUN/TURN ports, TCP and TLS when they are on, `[]` when TURN is off) and gives the TURN entries the
 * signaling username and password as `username` and `credential`: the server's TURN
 * accepts the same logins as its signaling. If the fetch fails the list is empty and the
 * call uses host candidates only (one machine or a LAN). `?relay=1` sets
 * `iceTransportPolicy: 'relay'`: media then goes through TURN only.
 * `?transport=udp|tcp|tls` keeps only the TURN entries of that transport (`turn:…?transport=udp`,
 * `turn:…?transport=tcp`, `turns:`), as when a firewall lets only that one through.
 *
 * The query string may preset `room`, `username`, `password`; `autojoin=1` joins at once.
 * Without `username`, each tab takes the first demo user no other open tab of this
 * browser uses (alice, then bob, …), so two tabs call each other with no typing.
 */
import { MeshCall, SignalingClient } from '/client/index.js';

/** Where the server tells us its STUN/TURN service; bounded so a slow server never stalls a join. */
const CONFIG_URL = '/config.json';
const CONFIG_TIMEOUT_MS = 5000;
const PING_INTERVAL_MS = 25000;
const DEFAULT_ROOM = 'demo';
const DEMO_USERS = ['alice', 'bob', 'carol', 'dave'];
const DEFAULT_PASSWORD = 'demo';

const query = new URLSearchParams(location.search);
/** `?relay=1`: only relayed (TURN) candidates, as behind a strict firewall. */
const RELAY_ONLY = query.get('relay') === '1';
/** `?transport=udp|tcp|tls`: TURN over that transport only. */
const TURN_TRANSPORT = ['udp', 'tcp', 'tls'].includes(query.get('transport')) ? query.get('transport') : null;
/** The page comes from this machine (dev mode binds to loopback). */
const LOOPBACK_PAGE = /^(127\.|localhost$|\[::1\]$)/.test(location.hostname);

/** What the server's close codes mean (PROTOCOL.md "Close codes"), plus the browser's and the library's own. */
const CLOSE_CODES = {
  1000: 'closed normally (hang-up, idle timeout, or not authenticated in time)',
  1001: 'the server is shutting down',
  1005: 'closed without a status code',
  1006: 'connection lost (network error or server unreachable)',
  1008: 'policy violation (kicked, too many failed log-ins, too many messages, or origin refused)',
  1009: 'a message was too big',
  1011: 'internal server error',
  4000: 'no answer to our keepalive ping (dead connection)',
  4002: 'no answer to the log-in in time',
};

function describeClose(code) {
  return CLOSE_CODES[code] || 'unexpected close';
}

// ---------------------------------------------------------------- DOM

const $ = (id) => document.getElementById(id);
const form = $('join-form');
const roomInput = $('room');
const usernameInput = $('username');
const passwordInput = $('password');
const joinButton = $('join');
const hangupButton = $('hangup');
const statusLine = $('status');
const hintLine = $('hint');
const videos = $('videos');
const localVideo = $('local-video');
const localLabel = $('local-label');
const tileTemplate = $('remote-tile-template');

// ---------------------------------------------------------------- state

/** 'idle' | 'media' | 'connecting' | 'authenticating' | 'in-call' | 'reconnecting' | 'closed' | 'error' */
let phase = 'idle';
let statusText = 'Not connected.';
let statusKind = 'info';
let localStream = null;
/** The current call ({room, username, client, mesh, iceServers, tiles, lastPongAt}); null when idle. */
let current = null;
/** Set when a socket closes, for the user and the test hook. */
let lastClose = null;
/** Recent notable events, newest last (for debugging and the test hook). */
const eventLog = [];

function log(message, detail) {
  eventLog.push({ at: Date.now(), message });
  if (eventLog.length > 200) eventLog.shift();
  if (detail !== undefined) console.log('[webrtc-example]', message, detail);
  else console.log('[webrtc-example]', message);
}

function setStatus(text, kind) {
  if (text !== statusText) log('status: ' + text);
  statusText = text;
  statusKind = kind || 'info';
  statusLine.textContent = text;
  statusLine.className = 'status ' + statusKind;
}

/** A second line under the status, for advice (empty hides it). */
function setHint(text) {
  hintLine.textContent = text;
  hintLine.hidden = !text;
}

function setFormEnabled(enabled) {
  for (const input of [roomInput, usernameInput, passwordInput]) input.disabled = !enabled;
  joinButton.disabled = !enabled;
  hangupButton.disabled = enabled;
}

// ---------------------------------------------------------------- which demo user this tab is

/**
 * Each open tab keeps a heartbeat in localStorage under the demo user it shows; a new tab
 * takes the first demo user without a fresh heartbeat. A reloaded tab keeps its user
 * (sessionStorage).
 */
const TAB_KEY = 'webrtc-example.tab-user';
const HEARTBEAT_PREFIX = 'webrtc-example.user.';
const HEARTBEAT_MS = 2000;

function pickDemoUser() {
  try {
    const mine = sessionStorage.getItem(TAB_KEY);
    if (mine) return mine;
    const now = Date.now();
    const free = DEMO_USERS.find((u) => !(now - Number(localStorage.getItem(HEARTBEAT_PREFIX + u) || 0) < 3 * HEARTBEAT_MS));
    const chosen = free || DEMO_USERS[0];
    sessionStorage.setItem(TAB_KEY, chosen);
    return chosen;
  } catch {
    return DEMO_USERS[0]; // storage disabled
  }
}

function keepClaim(username) {
  const beat = () => {
    try {
      localStorage.setItem(HEARTBEAT_PREFIX + username, String(Date.now()));
    } catch {
      // storage disabled: every tab defaults to alice
    }
  };
  beat();
  setInterval(beat, HEARTBEAT_MS);
  window.addEventListener('pagehide', () => {
    try {
      localStorage.removeItem(HEARTBEAT_PREFIX + username);
    } catch {
      // nothing to release
    }
  });
}

roomInput.value = query.get('room') || DEFAULT_ROOM;
if (query.get('username')) {
  usernameInput.value = query.get('username');
} else {
  usernameInput.value = pickDemoUser();
  keepClaim(usernameInput.value);
}
passwordInput.value = query.has('password') ? query.get('password') : DEFAULT_PASSWORD;

// ---------------------------------------------------------------- ICE servers

/** The transport of a TURN URL: `turns:` is TLS; `turn:` is UDP unless `?transport=tcp`. */
function turnTransportOf(url) {
  if (/^turns:/i.test(url)) return 'tls';
  return /[?&]transport=tcp\b/i.test(url) ? 'tcp' : 'udp';
}

/** Whether `entry` is kept under `?transport=`: STUN always, TURN of that transport only. */
function keptForTransport(entry) {
  if (TURN_TRANSPORT === null) return true;
  return urlsOf(entry).every((u) => !/^turns?:/i.test(u) || turnTransportOf(u) === TURN_TRANSPORT);
}

function urlsOf(entry) {
  return typeof entry.urls === 'string' ? [entry.urls] : entry.urls;
}

function isValidIceServer(entry) {
  if (!entry || typeof entry !== 'object') return false;
  const urls = urlsOf(entry);
  return Array.isArray(urls) && urls.length > 0 && urls.every((u) => typeof u === 'string');
}

const isTurn = (entry) => urlsOf(entry).some((u) => /^turns?:/i.test(u));

/**
 * The ICE servers of one call: the server's list, each TURN entry given our signaling
 * credentials (unless the server named others). [] when the fetch fails.
 */
async function loadIceServers(username, password) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), CONFIG_TIMEOUT_MS);
  try {
    const response = await fetch(CONFIG_URL, { cache: 'no-store', signal: controller.signal });
    if (!response.ok) throw new Error('HTTP ' + response.status);
    const config = await response.json();
    const list = config && Array.isArray(config.iceServers) ? config.iceServers.filter(isValidIceServer).filter(keptForTransport) : [];
    return list.map((entry) => {
      const copy = Object.assign({}, entry);
      if (isTurn(entry) && copy.username === undefined) {
        copy.username = username;
        copy.credential = password;
      }
      return copy;
    });
  } catch (err) {
    log('no ICE servers from ' + CONFIG_URL + ' (' + (err && (err.message || err.name)) + '): host candidates only');
    return [];
  } finally {
    clearTimeout(timer);
  }
}

/** The RTCPeerConnection configuration of a call (the single place that builds it). */
function rtcConfiguration(call) {
  const c = call || current;
  const config = { iceServers: c ? c.iceServers.map((e) => Object.assign({}, e)) : [] };
  if (RELAY_ONLY) config.iceTransportPolicy = 'relay';
  return config;
}

// ---------------------------------------------------------------- media

async function ensureLocalStream() {
  if (localStream && localStream.getTracks().some((t) => t.readyState === 'live')) return localStream;
  localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  localVideo.srcObject = localStream;
  localVideo.play().catch(() => {});
  return localStream;
}

function stopLocalStream() {
  if (!localStream) return;
  for (const track of localStream.getTracks()) track.stop();
  localStream = null;
  localVideo.srcObject = null;
}

// ---------------------------------------------------------------- the call

async function join() {
  if (current) return;
  const room = roomInput.value.trim();
  const username = usernameInput.value.trim();
  const password = passwordInput.value;
  if (!room || !username) {
    setStatus('Room and username are required.', 'error');
    return;
  }
  setFormEnabled(false);
  setHint('');
  lastClose = null;
  phase = 'media';
  setStatus('Asking for camera and microphone…');
  const call = { room, username, client: null, mesh: null, iceServers: [], tiles: new Map(), lastPongAt: null, ended: false };
  current = call;
  // Asked while the user answers the camera prompt; needed before the first RTCPeerConnection.
  const iceServers = loadIceServers(username, password);
  try {
    await ensureLocalStream();
  } catch (err) {
    // Joining without media still lets us watch the others.
    log('getUserMedia failed: ' + err.name, err);
    setStatus('No camera/microphone (' + err.name + '): joining receive-only.', 'error');
  }
  call.iceServers = await iceServers;
  if (current !== call) return; // hung up meanwhile
  if (RELAY_ONLY && !call.iceServers.some(isTurn)) {
    log('relay-only mode without a TURN server: calls cannot connect');
    setHint('Relay-only mode (?relay=1), but the server offers no TURN server (is TURN off, turnPort false?): calls cannot connect.');
  }
  localLabel.textContent = 'You (' + username + ')';

  let client;
  try {
    client = new SignalingClient({
      url: location.origin,
      room,
      credentials: { username, password },
      pingIntervalMs: PING_INTERVAL_MS,
    });
  } catch (err) {
    endCall(call, 'Cannot connect: ' + err.message, 'error');
    return;
  }
  call.client = client;
  call.mesh = new MeshCall(client, { localStream, rtcConfiguration: () => rtcConfiguration(call) });
  watchSignaling(call);
  watchMesh(call);
  phase = 'connecting';
  setStatus('Connecting to ' + client.url + '…');
  client.connect().catch(() => {}); // the outcome is handled by the events
}

function watchSignaling(call) {
  const { client } = call;
  const live = () => current === call;
  client.on('open', ({ url, attempt }) => {
    if (!live()) return;
    phase = 'authenticating';
    setStatus('Connected to ' + url + (attempt ? ' (attempt ' + (attempt + 1) + ')' : '') + ', authenticating as ' + call.username + '…');
  });
  client.on('authenticated', ({ peerId, peers, reconnected }) => {
    if (!live()) return;
    phase = 'in-call';
    log((reconnected ? 're-authenticated as ' : 'authenticated as ') + peerId + ', ' + peers.length + ' peer(s) in the room');
    setStatus((reconnected ? 'Back in room "' : 'In room "') + call.room + '" as ' + call.username + '. ' +
      (peers.length ? 'Calling ' + peers.map((p) => p.username).join(', ') + '…' : 'Waiting for others to join…'), 'ok');
  });
  client.on('unauthorized', () => {
    if (!live()) return;
    // The server would let us retry on this socket; the client closes it and the user edits the form.
    endCall(call, 'Unauthorized: wrong username or password.', 'error');
    stopLocalStream();
  });
  client.on('joined', ({ peerId, username }) => {
    if (!live()) return;
    log('peer joined: ' + username + ' ' + peerId);
    setStatus(username + ' joined room "' + call.room + '"; waiting for their call…', 'ok');
  });
  client.on('left', ({ peerId, username }) => {
    if (!live()) return;
    log('peer left: ' + username + ' ' + peerId);
    const n = client.peers().length;
    setStatus(username + ' left. In room "' + call.room + '" as ' + call.username + ' with ' + (n === 0 ? 'nobody now.' : n + ' other peer(s).'), 'ok');
  });
  client.on('invalid_message', (data) => {
    if (!live()) return;
    log('server says invalid_message: ' + JSON.stringify(data));
    setStatus('The server rejected a message: ' + data.reason + '.', 'error');
  });
  client.on('server_event', ({ event, data }) => log('server event ' + event + (data === undefined ? '' : ' ' + JSON.stringify(data))));
  client.on('pong', () => {
    call.lastPongAt = Date.now();
  });
  client.on('malformed', ({ why }) => log('ignoring a frame: ' + why));
  client.on('error', ({ error, during }) => log('error ' + during + ': ' + (error && error.message), error));
  client.on('disconnected', ({ code, reason }) => {
    lastClose = { code, reason, meaning: describeClose(code), at: Date.now() };
    log('socket closed ' + code + ' ' + reason);
  });
  client.on('reconnecting', ({ attempt, delayMs }) => {
    if (!live()) return;
    phase = 'reconnecting';
    const why = lastClose ? 'close code ' + lastClose.code + ' — ' + lastClose.meaning + (lastClose.reason ? ' (' + lastClose.reason + ')' : '') : 'connection lost';
    setStatus('Disconnected: ' + why + '. Reconnecting in ' + (delayMs / 1000).toFixed(1) + ' s (attempt ' + attempt + ')…', 'error');
  });
  client.on('closed', ({ code, reason, cause }) => {
    if (!live() || cause === 'unauthorized' || cause === 'closed-by-client') return;
    const text = cause === 'gave-up' ? 'Gave up reconnecting: ' + reason + '.' :
      'Disconnected: close code ' + code + ' — ' + describeClose(code) + (reason ? ' (' + reason + ')' : '') + '.';
    endCall(call, text, 'error');
  });
}

function watchMesh(call) {
  const { mesh } = call;
  mesh.on('peer', (peer) => {
    if (current !== call) return;
    const tile = tileTemplate.content.firstElementChild.cloneNode(true);
    tile.dataset.peerId = peer.peerId;
    call.tiles.set(peer.peerId, tile);
    videos.appendChild(tile);
    renderTile(call, peer);
  });
  mesh.on('track', ({ peer, stream }) => {
    const tile = call.tiles.get(peer.peerId);
    if (!tile) return;
    const video = tile.querySelector('video');
    if (video.srcObject !== stream) video.srcObject = stream;
    playVideo(tile, video);
  });
  mesh.on('peerstate', ({ peer, state }) => {
    renderTile(call, peer);
    log('connection to ' + peer.peerId + ': ' + state);
    if (current !== call) return;
    const name = nameOf(call, peer);
    if (state === 'connected') {
      setStatus('In a call with ' + connectedNames(call) + ' in room "' + call.room + '".', 'ok');
    } else if (state === 'failed') {
      setStatus('The call with ' + name + ' failed: no network path between you was found.', 'error');
      if (RELAY_ONLY) {
        setHint(LOOPBACK_PAGE
          ? 'Relay-only (?relay=1) on one machine: the server\'s TURN refuses to relay to loopback addresses (127.0.0.1) unless started with --allow-loopback-peers (WEBRTC_SERVER_ALLOW_LOOPBACK_PEERS=true, or "allowLoopbackPeers": true). Restart it with that flag, or drop ?relay=1.'
          : 'Relay-only (?relay=1): the TURN server could not relay between you (check that its UDP port and relay ports are reachable).');
      }
    }
  });
  mesh.on('peerclosed', ({ peerId }) => {
    const tile = call.tiles.get(peerId);
    if (!tile) return;
    tile.querySelector('video').srcObject = null;
    tile.remove();
    call.tiles.delete(peerId);
  });
  mesh.on('error', ({ peerId, error, during }) => {
    log('call ' + (peerId || '') + ': ' + during + ' failed: ' + (error && error.message), error);
    if (current === call) setStatus('Call setup with ' + (peerId ? nameOf(call, { peerId, username: null }) : 'a peer') + ' failed (' + during + '): ' + (error && error.message), 'error');
  });
}

function nameOf(call, peer) {
  return peer.username || (call.client.peers().find((p) => p.peerId === peer.peerId) || {}).username || peer.peerId;
}

function connectedNames(call) {
  return call.mesh.peers().filter((p) => p.pc.connectionState === 'connected').map((p) => nameOf(call, p)).join(', ');
}

function renderTile(call, peer) {
  const tile = call.tiles.get(peer.peerId);
  if (!tile) return;
  tile.querySelector('.name').textContent = nameOf(call, peer);
  tile.dataset.state = peer.pc.connectionState;
  tile.querySelector('.state').textContent = '(' + peer.pc.connectionState + ')';
}

function playVideo(tile, video) {
  video.play().catch(() => {
    // Autoplay with sound refused (no user gesture yet): play muted, unmute on click.
    video.muted = true;
    video.play().catch(() => {});
    tile.title = 'Click to unmute';
    tile.addEventListener('click', () => { video.muted = false; tile.title = ''; }, { once: true });
  });
}

// ---------------------------------------------------------------- hang-up

function endCall(call, text, kind) {
  if (call.ended) return;
  call.ended = true;
  if (call.mesh) call.mesh.close();
  if (call.client) call.client.close(1000, 'hang-up');
  for (const tile of call.tiles.values()) tile.remove();
  call.tiles.clear();
  if (current === call) {
    current = null;
    phase = kind === 'error' ? 'error' : 'closed';
    setStatus(text, kind);
    setFormEnabled(true);
  }
}

function hangUp() {
  if (!current) return;
  const call = current;
  endCall(call, 'Left room "' + call.room + '". Hung up.', 'info');
  stopLocalStream();
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  join();
});
hangupButton.addEventListener('click', hangUp);
window.addEventListener('pagehide', hangUp);

/**
 * The candidate pair ICE selected for each remote peer (from getStats): its state and
 * both candidates' type (`host`, `srflx`, `relay`), protocol, address and port.
 */
async function selectedCandidatePairs() {
  const call = current;
  if (!call || !call.mesh) return [];
  const out = [];
  for (const peer of call.mesh.peers()) {
    const stats = await peer.pc.getStats();
    let pair = null;
    stats.forEach((r) => {
      if (r.type === 'transport' && r.selectedCandidatePairId && stats.get(r.selectedCandidatePairId)) pair = stats.get(r.selectedCandidatePairId);
    });
    if (!pair) {
      stats.forEach((r) => {
        if (!pair && r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') pair = r;
      });
    }
    const candidate = (id) => {
      const c = id ? stats.get(id) : undefined;
      return c ? {
        candidateType: c.candidateType,
        protocol: c.protocol,
        // for a relayed candidate, how it reaches TURN: udp, tcp or tls
        relayProtocol: c.relayProtocol || null,
        address: c.address || c.ip || null,
        port: c.port,
      } : null;
    };
    out.push({
      peerId: peer.peerId,
      username: nameOf(call, peer),
      state: pair ? pair.state : null,
      local: pair ? candidate(pair.localCandidateId) : null,
      remote: pair ? candidate(pair.remoteCandidateId) : null,
    });
  }
  return out;
}

// ---------------------------------------------------------------- test hook

const SOCKET_STATES = { idle: null, connecting: 'connecting', authenticating: 'open', authenticated: 'open', reconnecting: 'closed', closed: 'closed' };

/** A small read-only view of the call for automated tests and the console. */
window.webrtcExample = {
  state() {
    const call = current;
    const client = call && call.client;
    return {
      phase,
      status: statusText,
      statusKind,
      hint: hintLine.hidden ? '' : hintLine.textContent,
      room: call ? call.room : null,
      username: call ? call.username : null,
      formUsername: usernameInput.value,
      peerId: client ? client.peerId : null,
      socketState: client ? SOCKET_STATES[client.state] : null,
      lastPongAt: call ? call.lastPongAt : null,
      lastClose,
      relayOnly: RELAY_ONLY,
      turnTransport: TURN_TRANSPORT,
      iceServers: call ? call.iceServers.map((e) => ({ urls: e.urls, withCredential: e.credential !== undefined })) : [],
      hasLocalVideo: !!localStream && localStream.getVideoTracks().some((t) => t.readyState === 'live'),
      remotePeers: call && call.mesh ? call.mesh.peers().map((p) => {
        const video = call.tiles.get(p.peerId)?.querySelector('video');
        const track = p.stream ? p.stream.getVideoTracks()[0] : undefined;
        return {
          peerId: p.peerId,
          username: nameOf(call, p),
          connectionState: p.pc.connectionState,
          iceConnectionState: p.pc.iceConnectionState,
          videoWidth: video ? video.videoWidth : 0,
          videoHeight: video ? video.videoHeight : 0,
          hasVideo: !!track && track.readyState === 'live' && !!video && video.videoWidth > 0,
        };
      }) : [],
      log: eventLog.slice(-50),
    };
  },
  join,
  hangUp,
  /** Sends one `ping` now (the client sends one every 25 s). */
  ping() {
    return current && current.client ? current.client.ping() : false;
  },
  rtcConfiguration,
  selectedCandidatePairs,
};

if (query.get('autojoin') === '1') join();
