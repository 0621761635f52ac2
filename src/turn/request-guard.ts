/**
 * What happens to a TURN request before node-turn sees it (RFC 8489
 * section 9.2.4, the long-term credential checks, in node-turn's order):
 *
 *  - a request node-turn will answer without checking any credential (437
 *    no allocation, 401 no MESSAGE-INTEGRITY, 400 no USERNAME/REALM/NONCE,
 *    438 stale nonce) is passed on within its source IP's budget of
 *    unauthenticated answers, else dropped (no amplification: a ~28 byte
 *    request would draw a ~100 byte answer);
 *  - a credential check (USERNAME, MESSAGE-INTEGRITY, our valid nonce) waits
 *    for the password lookup (credentials.ts: deadline, per-source cap), then
 *    asks the server's guess throttle (`authGate`: a refused check is dropped
 *    unanswered, counted as throttled), then checks MESSAGE-INTEGRITY once,
 *    in constant time. A wrong password or an unknown user is an auth failure:
 *    counted, logged at info without secrets (at most `authLogPerSecond`
 *    lines a second), answered 401 within the budget.
 *
 * Binding requests and indications never come here. Part of the node-turn
 * adapter (see node-turn-backend.ts).
 */
import type { AdapterContext } from './adapter-context.js';
import type { IntegrityVerdict } from './engine-message.js';
import { LogThrottle } from './log-throttle.js';
import { sourceKey } from './node-turn-engine.js';
import type { NonceIssuer } from './nonce.js';
import { SourceBuckets } from './source-buckets.js';
import { Attr, checkIntegrity, getAttribute, longTermKey, StunMethod } from './stun.js';
import type { StunMessage } from './stun.js';
import { NodeTurnDefect } from './turn-backend.js';

/** Why a credential check failed (logged; never the password, key or MESSAGE-INTEGRITY). */
export type AuthFailure = 'wrong_password' | 'unknown_user';

/** Usernames are logged up to this many characters. */
const LOGGED_USERNAME_CHARS = 128;

/**
 * The guard's verdict: deliver with this integrity verdict; null: drop; a
 * promise: the password is being looked up, ask again once it is true
 * (false: the lookup timed out, drop).
 */
export type GuardVerdict = IntegrityVerdict | null | Promise<boolean>;

/** Where a request came from: the client's transport address (UDP source, or the stream's remote end). */
export interface RequestSource {
  readonly address: string;
  readonly port: number;
}

export class RequestGuard {
  private readonly challenges: SourceBuckets;
  private readonly failureLog: LogThrottle;
  private readonly timeoutLog: LogThrottle;

  constructor(
    private readonly ctx: AdapterContext,
    private readonly nonces: NonceIssuer,
  ) {
    const limits = ctx.limits;
    this.challenges = new SourceBuckets({ burst: limits.challengeBurst, perSecond: limits.challengePerSecond, maxKeys: limits.challengeMaxSources });
    this.failureLog = new LogThrottle(limits.authLogPerSecond);
    this.timeoutLog = new LogThrottle(1);
  }

  /**
   * A request other than Binding from `rinfo`; `allocated`: its 5-tuple has
   * an allocation; `looked`: its password lookup already answered once.
   */
  check(m: StunMessage, rinfo: RequestSource, allocated: boolean, looked: boolean): GuardVerdict {
    const username = getAttribute(m, Attr.USERNAME);
    const nonce = getAttribute(m, Attr.NONCE);
    const nonceValid = nonce !== undefined
      && (!this.ctx.isMended(NodeTurnDefect.NONCE_TIMERS) || this.nonces.check(nonce.value.toString('utf8'), sourceKey(rinfo)));
    if (getAttribute(m, Attr.MESSAGE_INTEGRITY) === undefined || (m.method !== StunMethod.ALLOCATE && !allocated)
      || username === undefined || getAttribute(m, Attr.REALM) === undefined || !nonceValid) {
      // 401 challenge, 437, 400 or 438: the normal handshake, not an auth failure
      return this.unauthenticatedAnswer(rinfo) ? 'unchecked' : null;
    }
    const name = username.value.toString('utf8');
    const credentials = this.ctx.config.credentials;
    const credential = credentials.peek(name);
    if (credential === undefined) {
      if (looked) return null; // gone from the cache meanwhile: the client retransmits
      const lookup = credentials.fetch(name, rinfo.address);
      if (lookup === 'busy') {
        this.ctx.events.refused('lookup_busy');
        return null;
      }
      return lookup ?? this.check(m, rinfo, allocated, true);
    }
    const gate = this.ctx.config.authGate;
    const admitted = gate ? gate.admit(rinfo.address, name) : 'ok';
    if (admitted !== 'ok') {
      this.ctx.events.authThrottled(admitted);
      return null;
    }
    if (credential === null) return this.failed(rinfo, name, 'unknown_user');
    if (checkIntegrity(m, longTermKey(name, this.ctx.config.realm, credential.password)) !== 'valid') {
      return this.failed(rinfo, name, 'wrong_password');
    }
    gate?.succeeded(rinfo.address, name);
    return 'valid';
  }

  /** A held request dropped: its password lookup missed the deadline. */
  lookupTimedOut(m: StunMessage, rinfo: RequestSource): void {
    this.ctx.events.refused('lookup_timeout');
    const suppressed = this.timeoutLog.admit();
    if (suppressed === null) return;
    this.ctx.logger.warn(
      { user: loggedName(getAttribute(m, Attr.USERNAME)?.value.toString('utf8') ?? ''), from: sourceKey(rinfo), suppressed },
      'TURN credential lookup timed out (auth backend slow?): request dropped',
    );
  }

  /** One unauthenticated error answer for `rinfo`'s IP, if its budget allows. */
  private unauthenticatedAnswer(rinfo: RequestSource): boolean {
    if (this.challenges.take(rinfo.address)) return true;
    this.ctx.events.refused('challenge_rate');
    return false;
  }

  private failed(rinfo: RequestSource, name: string, reason: AuthFailure): IntegrityVerdict | null {
    this.ctx.events.authFailed();
    const suppressed = this.failureLog.admit();
    if (suppressed !== null) {
      this.ctx.logger.info({ user: loggedName(name), from: sourceKey(rinfo), reason, suppressed }, 'TURN authentication failed');
    }
    return this.unauthenticatedAnswer(rinfo) ? 'invalid' : null;
  }
}

function loggedName(name: string): string {
  return name.length > LOGGED_USERNAME_CHARS ? `${name.slice(0, LOGGED_USERNAME_CHARS)}…` : name;
}
