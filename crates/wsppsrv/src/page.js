// wsppsrv's clients page, the optional part: "connect this browser" and in-place refresh.
//
// The page is complete without this script; it only shows the #browser panel, which
// is hidden in the HTML so that a browser without JavaScript shows no dead buttons.
//
// Why the list is refreshed in place: the WebSocket belongs to this page, and a reload
// ends the page and so closes the socket, which takes the browser off the very list
// the user reloaded to look at. "Refresh list" fetches the page's own URL (same
// window of rows) and swaps in the server-rendered summary and table, so the browser
// stays connected. Rendering stays in one place, the server, which escapes every
// client-supplied string; nothing here builds HTML from text.
//
// Served as its own file because the page's Content-Security-Policy forbids inline
// script. See docs/page.md.
'use strict';

(() => {
  const panel = document.getElementById('browser');
  if (!panel || !('WebSocket' in window) || !window.fetch || !window.DOMParser) {
    return;
  }
  const $ = (id) => document.getElementById(id);
  const connectButton = $('connect');
  const refreshButton = $('refresh');
  const live = $('live');
  const status = $('status');

  const ECHO_EVERY_MS = 1000;
  const LIVE_EVERY_MS = 2000;
  // Echoes unanswered for this long count as lost and are forgotten.
  const ECHO_PATIENCE_MS = 10000;

  let socket = null;
  let echoTimer = 0;
  let liveTimer = 0;
  let echo = newEcho();

  panel.hidden = false;

  function newEcho() {
    return { next: 0, sent: 0, answered: 0, pending: new Map(), last: null, min: Infinity, max: 0, sum: 0 };
  }

  function setStatus(text, kind) {
    status.textContent = text;
    status.className = 'status' + (kind ? ' ' + kind : '');
  }

  // performance.now() is coarsened by browsers (100 µs in Chrome), hence two decimals.
  function ms(value) {
    return value === null || !Number.isFinite(value) ? '-' : value.toFixed(2) + ' ms';
  }

  function showEcho() {
    $('echo-last').textContent = ms(echo.last);
    $('echo-min').textContent = ms(echo.min);
    $('echo-avg').textContent = ms(echo.answered ? echo.sum / echo.answered : null);
    $('echo-max').textContent = echo.answered ? ms(echo.max) : '-';
    $('echo-count').textContent = echo.answered + ' / ' + echo.sent;
  }

  function socketUrl() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return scheme + '//' + location.host + panel.dataset.socketPath;
  }

  // An echo is matched by its sequence number to the time this page sent it; the
  // server's copy of the text is not trusted for the time.
  function sendEcho() {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      return;
    }
    const now = performance.now();
    for (const [seq, sentAt] of echo.pending) {
      if (now - sentAt > ECHO_PATIENCE_MS) {
        echo.pending.delete(seq);
      }
    }
    const seq = echo.next++;
    echo.pending.set(seq, now);
    echo.sent += 1;
    socket.send('wspp-echo ' + seq);
    showEcho();
  }

  function onMessage(event) {
    const now = performance.now();
    const match = typeof event.data === 'string' && /^wspp-echo (\d+)$/.exec(event.data);
    const sentAt = match ? echo.pending.get(Number(match[1])) : undefined;
    if (sentAt === undefined) {
      return;
    }
    echo.pending.delete(Number(match[1]));
    const rtt = now - sentAt;
    echo.answered += 1;
    echo.last = rtt;
    echo.min = Math.min(echo.min, rtt);
    echo.max = Math.max(echo.max, rtt);
    echo.sum += rtt;
    showEcho();
    // The server lists a client before it answers anything, so after the first echo
    // this browser is surely in the list: show it without waiting for the next tick.
    if (echo.answered === 1) {
      refresh();
    }
  }

  function connect() {
    echo = newEcho();
    showEcho();
    const url = socketUrl();
    setStatus('Connecting to ' + url + '\u2026');
    connectButton.textContent = 'Disconnect';
    let opened = false;
    const ws = new WebSocket(url);
    socket = ws;
    ws.addEventListener('open', () => {
      opened = true;
      setStatus('Connected to ' + url + '. The server pings this browser; the browser answers by itself.', 'connected');
      sendEcho();
      echoTimer = setInterval(sendEcho, ECHO_EVERY_MS);
      // Whoever connects wants to watch the list change.
      live.checked = true;
      setLive();
    });
    ws.addEventListener('message', onMessage);
    ws.addEventListener('close', (event) => {
      if (socket === ws) {
        socket = null;
      }
      clearInterval(echoTimer);
      connectButton.textContent = 'Connect this browser';
      if (!opened) {
        setStatus('Could not connect to ' + url + '. If the server restricts origins (--allowed-origin), ' +
          location.origin + ' must be among them.', 'failed');
      } else {
        const reason = event.reason ? ' (' + event.reason + ')' : '';
        setStatus('Disconnected: close code ' + event.code + reason + '.', event.code === 1000 ? '' : 'failed');
      }
      refresh();
    });
  }

  function disconnect() {
    if (socket) {
      socket.close(1000, 'closed from the page');
    }
  }

  let refreshing = null;
  function refresh() {
    // One request at a time: a slow server must not pile up refreshes.
    if (!refreshing) {
      refreshing = fetchList().finally(() => {
        refreshing = null;
      });
    }
    return refreshing;
  }

  async function fetchList() {
    refreshButton.disabled = true;
    try {
      const response = await fetch(location.href, { cache: 'no-store', headers: { Accept: 'text/html' } });
      if (!response.ok) {
        throw new Error('the server answered ' + response.status);
      }
      const fresh = new DOMParser().parseFromString(await response.text(), 'text/html');
      for (const id of ['summary', 'list']) {
        const next = fresh.getElementById(id);
        const current = $(id);
        if (next && current) {
          current.replaceWith(document.adoptNode(next));
        }
      }
      // When the list was last swapped in: lets a test (or a curious user) tell that a
      // refresh happened even when nothing in the list changed.
      document.body.dataset.refreshed = String(Date.now());
    } catch (error) {
      if (!socket) {
        setStatus('Could not refresh the list: ' + error.message + '.', 'failed');
      }
    } finally {
      refreshButton.disabled = false;
    }
  }

  function setLive() {
    clearInterval(liveTimer);
    liveTimer = live.checked ? setInterval(refresh, LIVE_EVERY_MS) : 0;
  }

  connectButton.addEventListener('click', () => (socket ? disconnect() : connect()));
  refreshButton.addEventListener('click', () => refresh());
  live.addEventListener('change', setLive);
})();
