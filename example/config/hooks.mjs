/**
 * A `callbacks` module for webrtc-server, named in webrtc-server.json as
 * {"module": "./hooks.mjs"}. Each export is optional and is called with
 * (room, username, otherUsernames): `create` when a join makes a room
 * non-empty, `join` after a peer joined, `leave` after it left (however its
 * connection ended). Calls for one room run one at a time, in order; a call
 * that throws, rejects or runs over 30 s is logged and the next one runs.
 *
 * Here each call writes one line to stderr; a real application would update
 * its presence list, bill a call's minutes or notify a webhook.
 */
const note = (what) => (room, username, others) => {
  process.stderr.write(`hooks: ${what} room=${JSON.stringify(room)} user=${JSON.stringify(username)} others=${JSON.stringify(others)}\n`);
};

export const create = note('create');
export const join = note('join');
export const leave = note('leave');
