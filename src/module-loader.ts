/** Loads a user module named in the config (`auth.module`, `callbacks.module`). */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ErrorCode, ServerError } from './errors.js';

export async function loadModule(path: string, baseDir: string, option: 'auth' | 'callbacks'): Promise<Record<string, unknown>> {
  const file = isAbsolute(path) ? path : resolve(baseDir, path);
  const code = option === 'auth' ? ErrorCode.AUTH_MODULE : ErrorCode.CALLBACKS_MODULE;
  try {
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new ServerError(code, `invalid option "${option}": cannot load module ${file}: ${why}`, { option, cause });
  }
}

