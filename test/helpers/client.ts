/**
 * A real `ws` client for tests, with a queue of received frames so a test
 * can `await client.next()` in order, and helpers for the protocol.
 */
import WebSocket from 'ws';

export interface Received {
  /** The raw text of the frame. */
  text: string;
  /** The parsed JSON, or undefined when the frame is not JSON (e.g. `pong`). */
  json: any;
}

export class TestClient {
  readonly ws: WebSocket;
  private readonly queue: Received[] = [];
  private waiters: ((r: Received) => void)[] = [];
  readonly opened: Promise<void>;
  /** Resolves with the close code and reason when the socket closes. */
  readonly closed: Promise<{ code: number; reason: string }>;
  peerId: string | null = null;

  constructor(url: string, options?: WebSocket.ClientOptions) {
    this.ws = new WebSocket(url, options);
    this.ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      const r = { text, json };
      const waiter = this.waiters.shift();
      if (waiter) waiter(r);
      else this.queue.push(r);
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.ws.on('error', () => {});
  }

  static async open(port: number, room: string, host = '127.0.0.1'): Promise<TestClient> {
    const c = new TestClient(`ws://${host}:${port}/websocket/${encodeURIComponent(room)}`);
    await c.opened;
    return c;
  }

  /** Opens, authenticates and waits for `authenticated`. */
  static async join(port: number, room: string, username: string, password: string): Promise<TestClient> {
    const c = await TestClient.open(port, room);
    c.sendJson({ event: 'authenticate', data: { username, password } });
    const r = await c.next();
    if (r.json?.event !== 'authenticated') throw new Error(`expected authenticated, got ${r.text}`);
    c.peerId = r.json.data.peer_id;
    return c;
  }

  send(text: string): void {
    this.ws.send(text);
  }

  sendJson(value: unknown): void {
    this.ws.send(JSON.stringify(value));
  }

  /** The next frame received, or rejects after `timeoutMs`. */
  next(timeoutMs = 2000): Promise<Received> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no frame within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (r: Received) => {
        clearTimeout(timer);
        resolve(r);
      };
      this.waiters.push(waiter);
    });
  }

  /** Resolves true if no frame arrives within `ms`. */
  async silent(ms = 200): Promise<boolean> {
    if (this.queue.length > 0) return false;
    try {
      await this.next(ms);
      return false;
    } catch {
      return true;
    }
  }

  close(): void {
    this.ws.close();
  }
}
