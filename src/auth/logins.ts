/**
 * The seam where signaling and TURN meet: signaling tells of each successful
 * login, and TURN (whose long-term credential check needs the password
 * itself, synchronously) remembers it for a while (src/turn/credential-cache.ts).
 * Neither side knows the other's internals.
 */
export interface LoginListener {
  /** `username` proved `password` and is known in rooms as `name`. */
  loggedIn(username: string, password: string, name: string): void;
}
