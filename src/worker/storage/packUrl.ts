// Where a pack's files may come from: the pack's own folder on the app's own origin, nowhere else.
// The manifest validator already allows only plain file names; this is the second line of
// defence, on the URL the worker is about to fetch.

export class PackUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PackUrlError';
  }
}

function parse(url: string, base?: string): URL | null {
  try {
    return new URL(url, base);
  } catch {
    return null;
  }
}

/**
 * The pack folder URL, checked: http(s), the same origin as `appUrl` (the worker's own location),
 * no credentials, query or fragment, and a folder (ends with "/").
 */
export function checkPackUrl(packUrl: string, appUrl: string): URL {
  const u = parse(packUrl);
  const app = parse(appUrl);
  if (!u || !app) throw new PackUrlError(`the pack location "${packUrl}" is not a valid URL`);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new PackUrlError(`the pack location ${u.href} is not http(s)`);
  if (u.origin !== app.origin) {
    throw new PackUrlError(`the pack location ${u.href} is on another site (${u.origin}); packs are loaded from ${app.origin} only`);
  }
  if (u.username || u.password || u.search || u.hash || !u.pathname.endsWith('/')) {
    throw new PackUrlError(`the pack location ${u.href} must be a plain folder URL ending with "/"`);
  }
  return u;
}

/**
 * Absolute URL of `file` inside the pack folder `packUrl`. Refuses a name that resolves anywhere
 * else: another origin ("https:evil.example"), a parent or sub folder ("..", "a/b"), a query or a
 * fragment.
 */
export function packFileUrl(packUrl: string, file: string): string {
  const base = parse(packUrl);
  if (!base || !base.pathname.endsWith('/') || base.search || base.hash) {
    throw new PackUrlError(`the pack location "${packUrl}" must be a plain folder URL ending with "/"`);
  }
  const u = parse(file, base.href);
  const rest = u && u.pathname.startsWith(base.pathname) ? u.pathname.slice(base.pathname.length) : null;
  const inside =
    u !== null && rest !== null && rest !== '' && !rest.includes('/') &&
    u.origin === base.origin && u.protocol === base.protocol &&
    !u.username && !u.password && !u.search && !u.hash;
  if (!inside) {
    throw new PackUrlError(
      `${file}: refused to fetch it: it resolves to ${u ? u.href : 'no valid URL'}, outside the pack folder ${base.href}`,
    );
  }
  return u.href;
}
