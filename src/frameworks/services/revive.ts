/**
 * Revive decisions: when the services framework asks the master for offers (REVIVE) and when it
 * stops asking (SUPPRESS). The choice is a pure function of the demand and the time; `OfferDemand`
 * is its shell (the calls and the one timer).
 *
 * New demand (an app created or scaled up, a task to replace) while offers are already wanted:
 * the agents we declined stay filtered for refuse_seconds, and a burst of POSTs otherwise waited
 * that long for them. REVIVE clears the filters, as Marathon revives on new launch demand — at most
 * once per MIN_REVIVE_INTERVAL_MS (Marathon's min_revive_offers_interval), the rest picked up by a timer.
 */
import type { Clock, TimerHandle } from '../../clock/clock.ts';
import type { OutgoingCall } from '../sdk/scheduler.ts';

export const MIN_REVIVE_INTERVAL_MS = 1000;
/**
 * Launches waiting and no offers for this long since the last REVIVE: revive again. A REVIVE can
 * be lost (sent between subscriptions, refused, or overtaken by an earlier SUPPRESS), and then the
 * framework believed itself revived while the master kept it suppressed — seen as rolling
 * deploys that never launched their first new instance. Marathon repeats its revives for the
 * same reason (`--revive_offers_repetitions`).
 */
export const REVIVE_REPEAT_MS = 5000;

export interface DemandState {
  suppressed: boolean;
  /** Launches wanted at the last decision: more now is new demand. */
  wantedBefore: number;
  lastReviveAt: number;
  /** A revive is already waiting for its interval. */
  waiting: boolean;
  /** When the last OFFERS event came. */
  lastOffersAt: number;
}

export type ReviveDecision = { action: 'revive' } | { action: 'suppress' } | { action: 'wait'; ms: number } | { action: 'none' };

/** Pure: what to do about offers, with `wanted` launches waiting at `now`. */
export function decideRevive(state: Readonly<DemandState>, wanted: number, now: number): ReviveDecision {
  const newDemand = wanted > state.wantedBefore;
  if (wanted > 0 && (state.suppressed || newDemand || state.waiting)) {
    const wait = state.lastReviveAt + MIN_REVIVE_INTERVAL_MS - now;
    if (wait <= 0 || state.suppressed) return { action: 'revive' };
    return state.waiting ? { action: 'none' } : { action: 'wait', ms: wait };
  }
  if (wanted === 0 && !state.suppressed) return { action: 'suppress' };
  if (wanted > 0 && now - Math.max(state.lastReviveAt, state.lastOffersAt) >= REVIVE_REPEAT_MS) return { action: 'revive' };
  return { action: 'none' };
}

export class OfferDemand {
  private readonly state: DemandState = { suppressed: true, wantedBefore: 0, lastReviveAt: -Infinity, waiting: false, lastOffersAt: -Infinity };
  private timer: TimerHandle | undefined;
  /** Decides again after REVIVE_REPEAT_MS while launches wait (no event may come to do it). */
  private repeat: TimerHandle | undefined;

  /** `retick`: decide again (the revive timer fired). */
  constructor(
    private readonly send: (call: OutgoingCall) => void,
    private readonly clock: Clock,
    private readonly retick: () => void,
  ) {}

  /** A new subscription starts suppressed (it subscribes with its role suppressed). */
  subscribed(): void {
    this.state.suppressed = true;
  }

  /** An OFFERS event came: the master is not holding us suppressed. */
  offersReceived(): void {
    this.state.lastOffersAt = this.clock.now();
  }

  /** After each tick: `wanted` launches wait for offers. */
  update(wanted: number): void {
    const now = this.clock.now();
    const decision = decideRevive(this.state, wanted, now);
    this.state.wantedBefore = wanted;
    if (wanted > 0 && this.repeat === undefined) {
      this.repeat = this.clock
        .setTimeout(() => {
          this.repeat = undefined;
          this.retick();
        }, REVIVE_REPEAT_MS)
        .unref();
    }
    switch (decision.action) {
      case 'revive':
        this.state.suppressed = false;
        this.state.lastReviveAt = now;
        this.cancel();
        this.send({ type: 'REVIVE', revive: {} });
        return;
      case 'wait':
        this.state.waiting = true;
        this.timer = this.clock
          .setTimeout(() => {
            this.timer = undefined;
            this.state.waiting = false;
            this.state.wantedBefore = 0; // still wanted then: revive
            this.retick();
          }, decision.ms)
          .unref();
        return;
      case 'suppress':
        this.state.suppressed = true;
        this.send({ type: 'SUPPRESS', suppress: {} });
        return;
      case 'none':
    }
  }

  cancel(): void {
    this.clock.clearTimeout(this.timer);
    this.clock.clearTimeout(this.repeat);
    this.timer = undefined;
    this.repeat = undefined;
    this.state.waiting = false;
  }
}
