// Fetches and validates a pack's manifest.json; every failure becomes one readable sentence.
import { parseManifest, ManifestError, type PackManifest } from '../shared/manifest';
import { abortable, errorText } from './download';
import { packFileUrl } from './packUrl';

export class PackError extends Error {
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
    throw new PackError(`could not fetch manifest.json (${errorText(e)})`);
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
