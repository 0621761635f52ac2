/*
 * webrtc-server example client: a full-mesh group video call.
 *
 * Plain browser JavaScript, no build step, no external resources.
 *
 * Signaling (see the server's PROTOCOL.md):
 *   1. connect to ws(s)://<this host>/websocket/<room> and send
 *      {"event":"authenticate","data":{"username":U,"password":W}};
 *   2. `authenticated` gives our peer_id and the `peers` already in the room. As the
 *      newcomer we create one RTCPeerConnection per existing peer and send each an offer.
 *      The existing members never offer to us (they only answer), so there is no glare;
 *   3. `joined` announces a newcomer: we create its connection and wait for its offer;
 *   4. offers, answers and ICE candidates travel as {"event":…, "data":…, "to": peer_id};
 *      the server adds "from": peer_id, which tells us whose connection they belong to.
 *      Candidates that arrive before the remote description are queued;
 *   5. `left` closes that peer's connection and removes its video;
 *   6. a text `ping` every 30 s keeps the socket alive (the server answers with the raw
 *      text `pong`, which is not JSON).
 *
 * ICE servers: on join the client fetches `/config.json` from the server that served the
 * page (the dev-mode daemon answers `{"iceServers":[{"urls":"stun:HOST:PORT"},
 * {"urls":"turn:HOST:PORT?transport=udp"}, {"urls":"turn:HOST:PORT?transport=tcp"},
 * {"urls":"turns:HOST:TLSPORT"}]}` with its own STUN/TURN ports, TCP and TLS when they are
 * on, `[]` when TURN is off) and gives the TURN entries the signaling username and password as `username` and
 * `credential`: the server's TURN accepts the same logins as its signaling. If the fetch
 * fails the list is empty and the call uses host candidates only (one machine or a LAN).
 * `?relay=1` sets `iceTransportPolicy: 'relay'`: media then goes through TURN only.
 * `?transport=udp|tcp|tls` keeps only the TURN entries of that transport (`turn:…?transport=udp`,
 * `turn:…?transport=tcp`, `turns:`), as when a firewall lets only that one through.
 *
 * Differences from the original Erlang project's "multi" example: peers are keyed by
 * peer_id (usernames need not be unique), descriptions are applied before answering
 * (promises are awaited), early candidates are queued instead of failing, `left` really
 * deletes the peer, the socket is kept alive, ws:// is used on http pages, and errors and
 * close codes are shown to the user.
 */
'use strict';

(function () {
  /** Where the server tells us its STUN/TURN service; bounded so a slow server never stalls a join. */
  const CONFIG_URL = '/config.json';
  const CONFIG_TIMEOUT_MS = 5000;

  const query = new URLSearchParams(location.search);
  /** `?relay=1`: only relayed (TURN) candidates, as behind a strict firewall. */
  const RELAY_ONLY = query.get('relay') === '1';
  /** `?transport=udp|tcp|tls`: TURN over that transport only. */
  const TURN_TRANSPORT = ['udp', 'tcp', 'tls'].includes(query.get('transport')) ? query.get('transport') : null;

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
        const turn = urlsOf(entry).some((u) => /^turns?:/i.test(u));
        if (turn && copy.username === undefined) {
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
  function rtcConfiguration(session) {
    const s = session || current;
    const config = { iceServers: s ? s.iceServers.map((e) => Object.assign({}, e)) : [] };
    if (RELAY_ONLY) config.iceTransportPolicy = 'relay';
    return config;
  }

  const PING_INTERVAL_MS = 30000;
  const DEFAULT_ROOM = 'demo';
  const DEFAULT_USERNAME = 'alice';
  const DEFAULT_PASSWORD = 'demo';

  /** What the server's close codes mean (PROTOCOL.md "Close codes"), plus the browser's own. */
  const CLOSE_CODES = {
    1000: 'closed normally (hang-up, idle timeout, or not authenticated in time)',
    1001: 'the server is shutting down',
    1005: 'closed without a status code',
    1006: 'connection lost (network error or server unreachable)',
    1008: 'policy violation (too many failed log-ins, too many messages, or origin refused)',
    1009: 'a message was too big',
    1011: 'internal server error',
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
  const videos = $('videos');
  const localVideo = $('local-video');
  const localLabel = $('local-label');
  const tileTemplate = $('remote-tile-template');

  // ---------------------------------------------------------------- state

  /** 'idle' | 'media' | 'connecting' | 'authenticating' | 'in-call' | 'closed' | 'error' */
  let phase = 'idle';
  let statusText = 'Not connected.';
  let statusKind = 'info';
  let localStream = null;
  /** The current call; null when idle. Stale async work checks `session === current`. */
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
    statusText = text;
    statusKind = kind || 'info';
    statusLine.textContent = text;
    statusLine.className = 'status ' + statusKind;
  }

  function setFormEnabled(enabled) {
    for (const input of [roomInput, usernameInput, passwordInput]) input.disabled = !enabled;
    joinButton.disabled = !enabled;
    hangupButton.disabled = enabled;
  }

  // ---------------------------------------------------------------- query string

  roomInput.value = query.get('room') || DEFAULT_ROOM;
  usernameInput.value = query.get('username') || DEFAULT_USERNAME;
  passwordInput.value = query.has('password') ? query.get('password') : DEFAULT_PASSWORD;

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

  // ---------------------------------------------------------------- signaling

  function send(session, message) {
    if (session.socket.readyState !== WebSocket.OPEN) return false;
    session.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
    return true;
  }

  function sendTo(session, peerId, event, data) {
    send(session, { event, data, to: peerId });
  }

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
    lastClose = null;
    phase = 'media';
    setStatus('Asking for camera and microphone…');
    const session = {
      room,
      username,
      socket: null,
      peerId: null,
      peers: new Map(),
      pingTimer: null,
      lastPongAt: null,
      iceServers: [],
      ended: false,
    };
    current = session;
    // Asked while the user answers the camera prompt; needed before the first RTCPeerConnection.
    const iceServers = loadIceServers(username, password);
    try {
      await ensureLocalStream();
    } catch (err) {
      // Joining without media still lets us watch the others.
      log('getUserMedia failed: ' + err.name, err);
      setStatus('No camera/microphone (' + err.name + '): joining receive-only.', 'error');
    }
    session.iceServers = await iceServers;
    if (current !== session) return; // hung up meanwhile
    if (RELAY_ONLY && !session.iceServers.some((e) => urlsOf(e).some((u) => /^turns?:/i.test(u)))) {
      log('relay-only mode without a TURN server: calls cannot connect');
    }
    localLabel.textContent = 'You (' + username + ')';

    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = scheme + '//' + location.host + '/websocket/' + encodeURIComponent(room);
    phase = 'connecting';
    setStatus('Connecting to ' + url + '…');
    let socket;
    try {
      socket = new WebSocket(url);
    } catch (err) {
      endSession(session, 'Cannot open ' + url + ': ' + err.message, 'error');
      return;
    }
    session.socket = socket;

    socket.onopen = () => {
      if (current !== session) return;
      phase = 'authenticating';
      setStatus('Connected, authenticating as ' + username + '…');
      send(session, { event: 'authenticate', data: { username, password } });
      session.pingTimer = setInterval(() => send(session, 'ping'), PING_INTERVAL_MS);
    };

    socket.onmessage = (e) => {
      if (current !== session || typeof e.data !== 'string') return;
      if (e.data === 'pong') {
        session.lastPongAt = Date.now();
        return;
      }
      let message;
      try {
        message = JSON.parse(e.data);
      } catch {
        log('ignoring a non-JSON frame: ' + e.data.slice(0, 80));
        return;
      }
      if (!message || typeof message !== 'object') return;
      handleMessage(session, message).catch((err) => {
        log('error handling ' + message.event + ': ' + (err && err.message), err);
        setStatus('Error handling "' + message.event + '": ' + (err && err.message), 'error');
      });
    };

    socket.onerror = () => log('socket error');

    socket.onclose = (e) => {
      lastClose = { code: e.code, reason: e.reason, meaning: describeClose(e.code), at: Date.now() };
      log('socket closed ' + e.code + ' ' + e.reason);
      if (current !== session) return;
      const why = 'Disconnected: close code ' + e.code + ' — ' + describeClose(e.code) + (e.reason ? ' (' + e.reason + ')' : '') + '.';
      endSession(session, why, e.code === 1000 ? 'info' : 'error');
    };
  }

  async function handleMessage(session, message) {
    const data = message.data || {};
    const from = typeof message.from === 'string' ? message.from : null;
    switch (message.event) {
      case 'authenticated': {
        session.peerId = data.peer_id;
        phase = 'in-call';
        const others = Array.isArray(data.peers) ? data.peers : [];
        log('authenticated as ' + session.peerId + ', ' + others.length + ' peer(s) in the room');
        setStatus('In room "' + session.room + '" as ' + session.username + '. ' +
          (others.length ? 'Calling ' + others.length + ' peer(s)…' : 'Waiting for others to join…'), 'ok');
        // We are the newcomer: we make the offers.
        for (const other of others) {
          if (!other || other.peer_id === session.peerId) continue;
          const peer = getPeer(session, other.peer_id, other.username);
          makeOffer(session, peer).catch((err) => peerError(peer, 'offer', err));
        }
        break;
      }
      case 'unauthorized': {
        // The server would let us retry on this socket; we close it and let the user edit the form.
        endSession(session, 'Unauthorized: wrong username or password.', 'error');
        break;
      }
      case 'joined': {
        log('peer joined: ' + data.username + ' ' + data.peer_id);
        // The newcomer will send us an offer; just get ready for it.
        getPeer(session, data.peer_id, data.username);
        updateCallStatus(session);
        break;
      }
      case 'left': {
        log('peer left: ' + data.username + ' ' + data.peer_id);
        removePeer(session, data.peer_id);
        updateCallStatus(session);
        break;
      }
      case 'offer': {
        if (!from) return;
        const peer = getPeer(session, from, null);
        await peer.pc.setRemoteDescription(data);
        await flushCandidates(peer);
        const answer = await peer.pc.createAnswer();
        await peer.pc.setLocalDescription(answer);
        if (current !== session) return;
        sendTo(session, from, 'answer', { type: peer.pc.localDescription.type, sdp: peer.pc.localDescription.sdp });
        break;
      }
      case 'answer': {
        if (!from) return;
        const peer = session.peers.get(from);
        if (!peer) return;
        await peer.pc.setRemoteDescription(data);
        await flushCandidates(peer);
        break;
      }
      case 'candidate': {
        if (!from) return;
        const peer = getPeer(session, from, null);
        const init = {
          candidate: data.candidate,
          sdpMid: data.sdpMid !== undefined ? data.sdpMid : data.id,
          sdpMLineIndex: data.sdpMLineIndex !== undefined ? data.sdpMLineIndex : data.label,
        };
        if (data.usernameFragment) init.usernameFragment = data.usernameFragment;
        if (!peer.pc.remoteDescription) peer.pendingCandidates.push(init);
        else await addCandidate(peer, init);
        break;
      }
      case 'invalid_message': {
        log('server says invalid_message: ' + JSON.stringify(data));
        setStatus('The server rejected a message: ' + (data.reason || 'invalid') + '.', 'error');
        break;
      }
      default:
        log('ignoring event ' + message.event);
    }
  }

  function updateCallStatus(session) {
    if (current !== session || phase !== 'in-call') return;
    const n = session.peers.size;
    setStatus('In room "' + session.room + '" as ' + session.username + ' with ' +
      (n === 0 ? 'nobody yet.' : n + ' other peer(s).'), 'ok');
  }

  // ---------------------------------------------------------------- peer connections

  /** The peer for `peerId`, created (with its connection and tile) if unknown. */
  function getPeer(session, peerId, username) {
    let peer = session.peers.get(peerId);
    if (peer) {
      if (username && !peer.username) setPeerName(peer, username);
      return peer;
    }
    const pc = new RTCPeerConnection(rtcConfiguration(session));
    const tile = tileTemplate.content.firstElementChild.cloneNode(true);
    tile.dataset.peerId = peerId;
    const video = tile.querySelector('video');
    peer = { peerId, username: username || null, pc, pendingCandidates: [], tile, video, stream: null };
    session.peers.set(peerId, peer);
    setPeerName(peer, username);
    setPeerState(peer);
    videos.appendChild(tile);

    if (localStream) {
      for (const track of localStream.getTracks()) pc.addTrack(track, localStream);
    }

    pc.onicecandidate = (e) => {
      if (!e.candidate || current !== session) return; // null = end of candidates
      const c = e.candidate;
      sendTo(session, peerId, 'candidate', {
        candidate: c.candidate,
        sdpMid: c.sdpMid,
        sdpMLineIndex: c.sdpMLineIndex,
        usernameFragment: c.usernameFragment,
        // the field names of the original example, for its clients
        id: c.sdpMid,
        label: c.sdpMLineIndex,
      });
    };
    pc.ontrack = (e) => {
      if (!peer.stream) {
        peer.stream = e.streams[0] || new MediaStream();
        video.srcObject = peer.stream;
      }
      if (!peer.stream.getTracks().includes(e.track)) peer.stream.addTrack(e.track);
      playVideo(peer);
    };
    pc.onconnectionstatechange = () => {
      setPeerState(peer);
      log('connection to ' + peerId + ': ' + pc.connectionState);
    };
    pc.oniceconnectionstatechange = () => setPeerState(peer);
    return peer;
  }

  function playVideo(peer) {
    peer.video.play().catch(() => {
      // Autoplay with sound refused (no user gesture yet): play muted, unmute on click.
      peer.video.muted = true;
      peer.video.play().catch(() => {});
      peer.tile.title = 'Click to unmute';
      peer.tile.addEventListener('click', () => { peer.video.muted = false; peer.tile.title = ''; }, { once: true });
    });
  }

  function setPeerName(peer, username) {
    if (username) peer.username = username;
    peer.tile.querySelector('.name').textContent = peer.username || peer.peerId;
  }

  function setPeerState(peer) {
    const state = peer.pc.connectionState;
    peer.tile.dataset.state = state;
    peer.tile.querySelector('.state').textContent = '(' + state + ')';
  }

  async function makeOffer(session, peer) {
    if (!localStream) {
      // Receive-only: still ask for the other side's audio and video.
      peer.pc.addTransceiver('audio', { direction: 'recvonly' });
      peer.pc.addTransceiver('video', { direction: 'recvonly' });
    }
    const offer = await peer.pc.createOffer();
    await peer.pc.setLocalDescription(offer);
    if (current !== session) return;
    sendTo(session, peer.peerId, 'offer', { type: peer.pc.localDescription.type, sdp: peer.pc.localDescription.sdp });
  }

  async function addCandidate(peer, init) {
    try {
      await peer.pc.addIceCandidate(init);
    } catch (err) {
      log('addIceCandidate failed for ' + peer.peerId + ': ' + err.message, err);
    }
  }

  async function flushCandidates(peer) {
    const queued = peer.pendingCandidates.splice(0);
    for (const init of queued) await addCandidate(peer, init);
  }

  function peerError(peer, what, err) {
    log(what + ' for ' + peer.peerId + ' failed: ' + (err && err.message), err);
    setStatus('Call setup with ' + (peer.username || peer.peerId) + ' failed: ' + (err && err.message), 'error');
  }

  function removePeer(session, peerId) {
    const peer = session.peers.get(peerId);
    if (!peer) return;
    session.peers.delete(peerId);
    peer.pc.ontrack = peer.pc.onicecandidate = peer.pc.onconnectionstatechange = peer.pc.oniceconnectionstatechange = null;
    peer.pc.close();
    peer.video.srcObject = null;
    peer.tile.remove();
  }

  // ---------------------------------------------------------------- hang-up

  function endSession(session, text, kind) {
    if (session.ended) return;
    session.ended = true;
    if (session.pingTimer) clearInterval(session.pingTimer);
    for (const peerId of Array.from(session.peers.keys())) removePeer(session, peerId);
    const socket = session.socket;
    if (socket && (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING)) {
      socket.close(1000, 'hang-up');
    }
    if (current === session) {
      current = null;
      phase = kind === 'error' ? 'error' : 'closed';
      setStatus(text, kind);
      setFormEnabled(true);
    }
  }

  function hangUp() {
    if (!current) return;
    const session = current;
    endSession(session, 'Hung up.', 'info');
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
    const session = current;
    if (!session) return [];
    const out = [];
    for (const peer of Array.from(session.peers.values())) {
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
        username: peer.username,
        state: pair ? pair.state : null,
        local: pair ? candidate(pair.localCandidateId) : null,
        remote: pair ? candidate(pair.remoteCandidateId) : null,
      });
    }
    return out;
  }

  // ---------------------------------------------------------------- test hook

  /** A small read-only view of the call for automated tests and the console. */
  window.webrtcExample = {
    state() {
      const session = current;
      return {
        phase,
        status: statusText,
        statusKind,
        room: session ? session.room : null,
        username: session ? session.username : null,
        peerId: session ? session.peerId : null,
        socketState: session && session.socket ? ['connecting', 'open', 'closing', 'closed'][session.socket.readyState] : null,
        lastPongAt: session ? session.lastPongAt : null,
        lastClose,
        relayOnly: RELAY_ONLY,
        turnTransport: TURN_TRANSPORT,
        iceServers: session ? session.iceServers.map((e) => ({ urls: e.urls, withCredential: e.credential !== undefined })) : [],
        hasLocalVideo: !!localStream && localStream.getVideoTracks().some((t) => t.readyState === 'live'),
        remotePeers: session ? Array.from(session.peers.values()).map((p) => {
          const track = p.stream ? p.stream.getVideoTracks()[0] : undefined;
          return {
            peerId: p.peerId,
            username: p.username,
            connectionState: p.pc.connectionState,
            iceConnectionState: p.pc.iceConnectionState,
            videoWidth: p.video.videoWidth,
            videoHeight: p.video.videoHeight,
            hasVideo: !!track && track.readyState === 'live' && p.video.videoWidth > 0,
          };
        }) : [],
        log: eventLog.slice(-50),
      };
    },
    join,
    hangUp,
    /** Sends one `ping` now (the timer sends one every 30 s). */
    ping() {
      return current && current.socket ? send(current, 'ping') : false;
    },
    rtcConfiguration,
    selectedCandidatePairs,
  };

  if (query.get('autojoin') === '1') join();
})();
