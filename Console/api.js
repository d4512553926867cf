// The HTTP API as the console uses it: same-origin fetch with the session cookie, the CSRF
// token on every change, the error envelope turned into ApiError, and SSE read from fetch.

let csrfToken = null;
let onSignedOut = () => {};

export function setCsrfToken(token) { csrfToken = token; }
export function onUnauthorized(handler) { onSignedOut = handler; }

export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

function headersFor(method, body, extra = {}) {
  const headers = { Accept: 'application/json', ...extra };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  return headers;
}

async function failure(res) {
  let envelope = null;
  try { envelope = (await res.json()).error; } catch { /* not JSON */ }
  const err = new ApiError(res.status, envelope?.code ?? `http_${res.status}`,
    envelope?.message ?? `The server answered ${res.status}.`, envelope?.request_id);
  if (res.status === 401) onSignedOut(err);
  return err;
}

export async function api(method, path, body, { signal, quiet401 = false } = {}) {
  let res;
  try {
    res = await fetch(path, {
      method, credentials: 'same-origin', signal,
      headers: headersFor(method, body),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network_error', 'Parley could not be reached. Check the connection and try again.');
  }
  if (res.status === 204) return null;
  if (!res.ok) {
    if (quiet401 && res.status === 401) {
      const err = new ApiError(401, 'unauthorized', 'Not signed in.');
      return Promise.reject(err);
    }
    throw await failure(res);
  }
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body ?? {}, opts);

/** Query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/**
 * Reads a Server-Sent Events response from fetch (EventSource cannot POST or set headers).
 * Calls onEvent({id, event, data}) per event; resolves when the server ends the stream.
 */
export async function streamEvents(method, path, { body, lastEventId, signal, onOpen, onEvent, headers = {} }) {
  const extra = { Accept: 'text/event-stream', ...headers };
  if (lastEventId) extra['Last-Event-ID'] = String(lastEventId);
  let res;
  try {
    res = await fetch(path, {
      method, credentials: 'same-origin', signal,
      headers: { ...headersFor(method, body), ...extra },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network_error', 'The connection to Parley was lost.');
  }
  if (!res.ok) throw await failure(res);
  onOpen?.();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let frame = { id: null, event: 'message', data: [] };
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(0, 'network_error', 'The connection to Parley was lost.');
    }
    if (chunk.done) return;
    buffer += chunk.value;
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, '');
      buffer = buffer.slice(nl + 1);
      if (line === '') {
        if (frame.data.length) {
          let data = null;
          try { data = JSON.parse(frame.data.join('\n')); } catch { data = null; }
          if (data) onEvent({ id: frame.id, event: frame.event, data });
        }
        frame = { id: null, event: 'message', data: [] };
      } else if (!line.startsWith(':')) {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') frame.data.push(value);
        else if (field === 'event') frame.event = value;
        else if (field === 'id') frame.id = value;
      }
    }
  }
}
