// A reference external strategy for orderpath, in TypeScript on Node 20, written from docs/wire.md alone:
// it heartbeats on control's ops socket (CURVE), asks control for its status (retrying with the same
// request id), reads a book from md, sends intents to risk, and reads risk's decisions and the adapter's
// execution reports. It prints one JSON line of what it saw and exits 0, or 1 with the reason.
//
//   npm ci && npm run build
//   ORDERPATH_KEYS_DIR=../../keys node dist/client.js --strategy ext1 --symbol 2330
//
// Endpoints default to config/stack.yaml's and follow the same ORDERPATH_<NAME>_ENDPOINT variables.
// --bad-intent also sends one deliberately malformed intent (created_ts_ns as a float, which is what a
// JavaScript number above 2^53 encodes to), to show the bad_message reject that names the field.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { hostname, userInfo } from "node:os";
import { randomUUID } from "node:crypto";
import { decode, encode } from "@msgpack/msgpack";
import * as zmq from "zeromq";

type Wire = Record<string, unknown>;

// 64-bit integers: BigInt both ways. Wall-clock nanoseconds exceed 2^53 and a number would round them.
const CODEC = { useBigInt64: true } as const;
const pack = (message: Wire): Buffer => Buffer.from(encode(message, CODEC));
const unpack = (payload: Buffer): Wire => decode(payload, CODEC) as Wire;

const DEFAULTS: Record<string, string> = {
  md: "tcp://127.0.0.1:17550",
  intents: "tcp://127.0.0.1:17551",
  exec: "tcp://127.0.0.1:17553",
  risk: "tcp://127.0.0.1:17554",
  control: "tcp://127.0.0.1:17555",
  ops: "tcp://127.0.0.1:17556",
};
const endpoint = (name: string): string =>
  process.env[`ORDERPATH_${name.toUpperCase()}_ENDPOINT`] ?? DEFAULTS[name];

// CLOCK_MONOTONIC on Linux (libuv), the clock of ingest_ts_ns and deadline_ns; wall clock for *_ts_ns.
const monoNs = (): bigint => process.hrtime.bigint();
const wallNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

/** A ZeroMQ certificate file's key ("public-key" or "secret-key"), Z85 text. */
function certificateKey(path: string, which: "public-key" | "secret-key"): string {
  const match = readFileSync(path, "utf8").match(new RegExp(`${which}\\s*=\\s*"([^"]{40})"`));
  if (!match) throw new Error(`${path}: no ${which}`);
  return match[1];
}

/** Collects the decoded messages of one socket; waits for one that matches, with a deadline. */
class Inbox {
  private readonly messages: Wire[] = [];
  private wake: (() => void) | null = null;

  constructor(socket: zmq.Subscriber | zmq.Dealer) {
    void (async () => {
      for await (const frames of socket) {
        this.messages.push(unpack(frames[frames.length - 1] as Buffer));
        this.wake?.();
      }
    })().catch(() => undefined); // the socket was closed
  }

  async next(matches: (m: Wire) => boolean, timeoutMs: number, what: string): Promise<Wire> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.messages.findIndex(matches);
      if (at >= 0) return this.messages.splice(at, 1)[0];
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => { clearTimeout(timer); resolve(); };
      });
      this.wake = null;
    }
  }
}

class ExternalStrategy {
  readonly ops = new zmq.Dealer({ linger: 1000 }); // the final heartbeat still leaves on close
  readonly intents = new zmq.Push({ immediate: true, sendHighWaterMark: 1000, sendTimeout: 2000, linger: 0 });
  readonly md = new zmq.Subscriber({ linger: 0 });
  readonly risk = new zmq.Subscriber({ linger: 0 });
  readonly exec = new zmq.Subscriber({ linger: 0 });
  readonly replies: Inbox;
  readonly books: Inbox;
  readonly decisions: Inbox;
  readonly reports: Inbox;
  private beats = 0n;
  private opsSending: Promise<void> = Promise.resolve();
  private intentCount = 0n;
  private readonly epoch = Date.now().toString(16);
  private heartbeatTimer: NodeJS.Timeout | undefined;

  constructor(readonly strategyId: string, readonly symbol: string, keysDir: string | undefined, keyName: string) {
    if (keysDir) { // control's ops socket is a CURVE server by default
      this.ops.curveServerKey = certificateKey(join(keysDir, "server.key"), "public-key");
      this.ops.curvePublicKey = certificateKey(join(keysDir, `${keyName}.key_secret`), "public-key");
      this.ops.curveSecretKey = certificateKey(join(keysDir, `${keyName}.key_secret`), "secret-key");
    }
    this.ops.connect(endpoint("ops"));
    this.intents.connect(endpoint("intents"));
    this.md.connect(endpoint("md"));
    this.md.subscribe(symbol);
    this.risk.connect(endpoint("risk"));
    this.risk.subscribe("decision");
    this.exec.connect(endpoint("exec"));
    this.exec.subscribe("exec");
    this.replies = new Inbox(this.ops);
    this.books = new Inbox(this.md);
    this.decisions = new Inbox(this.risk);
    this.reports = new Inbox(this.exec);
  }

  /** Sends on ops one at a time: zeromq.js refuses a send while another is in progress on the socket. */
  private sendOps(frames: [string, Buffer]): Promise<void> {
    const sent = this.opsSending.then(() => this.ops.send(frames));
    this.opsSending = sent.catch(() => undefined);
    return sent;
  }

  /** Heartbeats as instance strategy-<id>: how control knows this strategy is connected. */
  heartbeat(final = false): Promise<void> {
    this.beats += 1n;
    return this.sendOps(["hb", pack({
      t: "hb", v: 1, service: "strategy", instance: `strategy-${this.strategyId}`, pid: process.pid,
      seq: this.beats, ts_ns: wallNs(), final,
    })]);
  }

  startHeartbeats(intervalMs: number): void {
    const beat = () => this.heartbeat().catch((error: Error) => process.stderr.write(`heartbeat: ${error.message}\n`));
    void beat();
    this.heartbeatTimer = setInterval(beat, intervalMs);
  }

  /** One control request; sent again with the same request id after each third of the timeout. */
  async request(verb: string, args: Record<string, string> = {}, timeoutMs = 3000): Promise<Wire> {
    const requestId = randomUUID().replaceAll("-", "");
    const payload = pack({ t: "request", v: 1, request_id: requestId, verb, args,
                           who: `${userInfo().username}@${hostname()}` });
    for (let attempt = 0; attempt < 3; attempt++) {
      await this.sendOps(["request", payload]);
      try {
        return await this.replies.next((m) => m.t === "reply" && m.request_id === requestId, timeoutMs / 3,
                                       `reply to ${verb}`);
      } catch { /* unanswered: the same request again */ }
    }
    throw new Error(`control did not answer ${verb} (request ${requestId}) within ${timeoutMs} ms`);
  }

  /** An IOC buy of one lot at `priceE4`, valid for 500 ms; `override` replaces fields (for the bad one). */
  async sendIntent(priceE4: bigint | number, ingestTsNs: bigint, override: Wire = {}): Promise<string> {
    this.intentCount += 1n;
    const intentId = `${this.strategyId}.${this.epoch}.${this.intentCount}`;
    const now = monoNs();
    await this.intents.send(["intent", pack({
      t: "intent", v: 1, intent_id: intentId, strategy_id: this.strategyId, seq: this.intentCount,
      action: "new", client_order_id: intentId, symbol: this.symbol, side: "buy", qty: 1, price_e4: priceE4,
      price_type: "LMT", tif: "IOC", created_ts_ns: wallNs(), ingest_ts_ns: ingestTsNs,
      deadline_ns: now + 500_000_000n, ...override,
    })]);
    return intentId;
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeatTimer);
    await this.heartbeat(true);
    for (const socket of [this.ops, this.intents, this.md, this.risk, this.exec]) socket.close();
  }
}

async function main(): Promise<number> {
  const strategy = new ExternalStrategy(option("strategy", "ext1"), option("symbol", "2330"),
                                        process.env.ORDERPATH_KEYS_DIR, option("key", "services"));
  const seen: Wire = {};
  try {
    strategy.startHeartbeats(500);
    const before = await strategy.request("status");
    if (before.ok !== true) throw new Error(`status refused: ${String(before.error)}`);

    const book = await strategy.books.next(
      (m) => m.t === "md" && m.symbol === strategy.symbol && (m.ask_prices_e4 as unknown[]).length > 0,
      20_000, `a book of ${strategy.symbol}`);
    const ask = (book.ask_prices_e4 as (bigint | number)[])[0];
    const ingest = BigInt(book.ingest_ts_ns as bigint | number);
    seen.ask_e4 = String(ask);

    const isMine = (id: string) => (m: Wire) => m.intent_id === id;
    if (process.argv.includes("--bad-intent")) {
      const bad = await strategy.sendIntent(ask, ingest, { created_ts_ns: Number(wallNs()) + 0.5 });
      const refused = await strategy.decisions.next(isMine(bad), 10_000, "the bad intent's decision");
      seen.bad_intent = { approved: refused.approved, reason: refused.reason, detail: refused.detail };
    }

    const good = await strategy.sendIntent(ask, ingest);
    const decision = await strategy.decisions.next(isMine(good), 10_000, "a decision (publish_approvals)")
      .catch(() => null); // no decision: this strategy did not ask for approvals, and was not refused
    seen.decision = decision && { approved: decision.approved, reason: decision.reason ?? null,
                                  approved_qty: String(decision.approved_qty) };
    const report = await strategy.reports.next(
      (m) => isMine(good)(m) && ["fill", "expired", "reject", "cancelled"].includes(String(m.exec_type)),
      10_000, "the order's final report");
    seen.report = { exec_type: report.exec_type, status: report.status, cum_qty: String(report.cum_qty),
                    last_price_e4: String(report.last_price_e4) };

    const after = await strategy.request("status");
    const mine = (after.body as Wire).strategies as Record<string, Wire> | undefined;
    seen.status = mine?.[strategy.strategyId] ?? null;
    process.stdout.write(`${JSON.stringify(seen)}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`orderpath ts-client: ${(error as Error).message}\n${JSON.stringify(seen)}\n`);
    return 1;
  } finally {
    await strategy.close();
  }
}

process.exitCode = await main();
