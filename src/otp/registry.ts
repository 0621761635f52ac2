/**
 * Registered names, as in OTP's `register/2`: a worker that others must find
 * again after a restart registers under a name and is looked up by it,
 * instead of being held by reference. One registry per server.
 */
export class NameRegistry {
  private readonly names = new Map<string, unknown>();

  register(name: string, value: unknown): void {
    if (this.names.has(name)) throw new Error(`name already registered: ${name}`);
    this.names.set(name, value);
  }
  unregister(name: string, value: unknown): void {
    if (this.names.get(name) === value) this.names.delete(name);
  }
  whereis<T>(name: string): T | undefined {
    return this.names.get(name) as T | undefined;
  }
}

