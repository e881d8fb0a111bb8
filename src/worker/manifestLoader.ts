// Fetches and validates a pack's manifest.json; every failure becomes one readable sentence.
import { parseManifest, ManifestError, type PackManifest } from '../shared/manifest';
import { errorText } from './download';

export class PackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PackError';
  }
}

export async function loadManifest(fetchFn: typeof fetch, packUrl: string): Promise<PackManifest> {
  const url = new URL('manifest.json', packUrl).href;
  let res: Response;
  try {
    // no-cache: revalidate, so a re-exported pack is picked up (model bytes are cached by sha).
    res = await fetchFn(url, { cache: 'no-cache' });
  } catch (e) {
    throw new PackError(`could not fetch manifest.json (${errorText(e)})`);
  }
  if (!res.ok) throw new PackError(`manifest.json: HTTP ${res.status} ${res.statusText}`.trim());
  let json: unknown;
  try {
    json = await res.json();
  } catch {
    throw new PackError('manifest.json is not valid JSON');
  }
  try {
    return parseManifest(json);
  } catch (e) {
    if (e instanceof ManifestError) throw new PackError(`invalid manifest: ${e.message}`);
    throw e;
  }
}
