/**
 * An `auth` module for webrtc-server, named in webrtc-server.json as
 * {"module": "./auth.mjs", "export": "passwordFor"}.
 *
 * passwordFor(username) returns the password the user must present (or a
 * promise of it); anything but a string (undefined here) refuses the user.
 * The server compares passwords in constant time, throttles guessing, and
 * uses the same answer for TURN.
 *
 * The users here come from the EXAMPLE_USERS environment variable,
 * "alice:first-password,bob:second-password". Replace the lookup with your
 * own user store (a database query, an HTTP call); it may be async.
 */
const users = new Map(
  (process.env.EXAMPLE_USERS ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.includes(':'))
    .map((entry) => [entry.slice(0, entry.indexOf(':')), entry.slice(entry.indexOf(':') + 1)]),
);

if (users.size === 0) {
  process.stderr.write('example auth.mjs: EXAMPLE_USERS is empty: every login will be refused\n');
}

export async function passwordFor(username) {
  return users.get(username);
}
