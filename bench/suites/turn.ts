/**
 * Suite 4, TURN relay vs coturn: not written yet. Our TURN listener is being
 * built; until it exists this suite reports that it did not run, and never
 * a figure. (coturn's `turnserver` is detected so the report says whether
 * the baseline could run here.)
 */
import { existsSync } from 'node:fs';

export interface TurnResult {
  status: 'not run';
  reason: string;
  coturnInstalled: boolean;
}

export function runTurn(): TurnResult {
  const coturnInstalled = ['/usr/bin/turnserver', '/usr/local/bin/turnserver'].some((p) => existsSync(p));
  return {
    status: 'not run',
    reason: 'TURN not available yet (our TURN listener is still being written; the packets/s vs coturn case will be added with it)',
    coturnInstalled,
  };
}
