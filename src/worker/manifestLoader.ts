// Fetches and validates a pack's manifest.json; every failure becomes one readable sentence.
import { parseManifest, ManifestError, type PackManifest } from '../shared/manifest';
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
    json = await abortable(res.json(), signal);
  } catch {
    signal?.throwIfAborted();
    throw new PackError('manifest.json is not valid JSON');
  }
  try {
    return parseManifest(json);
  } catch (e) {
    if (e instanceof ManifestError) throw new PackError(`invalid manifest: ${e.message}`);
    throw e;
  }
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
