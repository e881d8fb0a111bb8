// Fetches and validates a pack's manifest.json; every failure becomes one readable sentence. The body is
// read within MANIFEST_LIMITS (bytes, then nesting depth) before JSON.parse sees it.
import { JsonLimitError, parseJsonBounded } from '../../shared/jsonLimits';
import { MANIFEST_LIMITS, type PackManifest } from '../../shared/manifest';
import { parseManifest, ManifestError } from '../../shared/manifestCheck';
import { abortable, errorText } from './download';
import { packFileUrl } from './packUrl';

export class PackError extends Error {
  /** The request itself failed (no network, or the server is unreachable): not a bad answer. */
  offline = false;
  constructor(message: string) {
    super(message);
    this.name = 'PackError';
  }
}

/** Aborting `signal` cancels the request and the body read and rejects with the signal's reason. */
export async function loadManifest(fetchFn: typeof fetch, packUrl: string, signal?: AbortSignal): Promise<PackManifest> {
  const url = packFileUrl(packUrl, 'manifest.json');
  signal?.throwIfAborted();
  let res: Response;
  try {
    // no-cache: revalidate, so a re-exported pack is picked up (model bytes are cached by sha).
    res = await abortable(fetchFn(url, { cache: 'no-cache', signal }), signal);
  } catch (e) {
    signal?.throwIfAborted();
    const err = new PackError(`could not fetch manifest.json (${errorText(e)})`);
    err.offline = true;
    throw err;
  }
  if (!res.ok) throw new PackError(`manifest.json: HTTP ${res.status} ${res.statusText}`.trim());
  let json: unknown;
  try {
    json = parseJsonBounded(await boundedText(res, MANIFEST_LIMITS.maxManifestBytes, signal), MANIFEST_LIMITS.maxJsonDepth);
  } catch (e) {
    signal?.throwIfAborted();
    if (e instanceof PackError) throw e;
    throw new PackError(e instanceof JsonLimitError ? `manifest.json ${e.message.replace(/^it /, '')}` : 'manifest.json is not valid JSON');
  }
  try {
    return parseManifest(json);
  } catch (e) {
    if (e instanceof ManifestError) throw new PackError(`invalid manifest: ${e.message}`);
    throw e;
  }
}

/** The body as text; more than `max` bytes (announced, or arrived) is refused without reading the rest. */
async function boundedText(res: Response, max: number, signal?: AbortSignal): Promise<string> {
  const tooBig = () => new PackError(`manifest.json has more than ${max} bytes (a manifest has a few KB): refused unread`);
  if (Number(res.headers.get('Content-Length') ?? 0) > max) {
    await res.body?.cancel().catch(() => {});
    throw tooBig();
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await abortable(reader.read(), signal);
    if (done) break;
    n += value.length;
    if (n > max) {
      await reader.cancel().catch(() => {});
      throw tooBig();
    }
    parts.push(value);
  }
  const all = new Uint8Array(n);
  parts.reduce((at, p) => (all.set(p, at), at + p.length), 0);
  return new TextDecoder().decode(all);
}

export interface LoadedManifest {
  manifest: PackManifest;
  from: 'network' | 'storage';
}

/**
 * The manifest from the network, or, when the request cannot be made at all (offline), the copy
 * stored with the pack on an earlier visit (validated again: storage is read like any input).
 * A server that answers (404, invalid JSON, ...) is believed: the stored copy is not used then.
 */
export async function loadManifestOrStored(
  fetchFn: typeof fetch,
  packUrl: string,
  stored: () => Promise<unknown>,
  signal?: AbortSignal,
): Promise<LoadedManifest> {
  try {
    return { manifest: await loadManifest(fetchFn, packUrl, signal), from: 'network' };
  } catch (e) {
    if (!(e instanceof PackError) || !e.offline) throw e;
    let json: unknown;
    try {
      json = await stored();
    } catch {
      json = null;
    }
    if (json === null || json === undefined) {
      throw new PackError(`${e.message}; this pack is not stored in this browser, so its first load needs the network`);
    }
    try {
      return { manifest: parseManifest(json), from: 'storage' };
    } catch (me) {
      if (me instanceof ManifestError) throw new PackError(`${e.message}, and the stored copy is invalid: ${me.message}`);
      throw me;
    }
  }
}
