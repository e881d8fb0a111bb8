// tests/fixtures/manifests.json through the app's validator: valid manifests pass, invalid ones are
// refused with the exact message. tests/python/test_manifest_fixtures.py runs the same file through
// adm/manifest_check.py, so the two languages cannot drift apart on a case here.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManifestError, parseManifest } from '../../../src/shared/manifestCheck';
import { ROOT } from '../cli/run';

interface Case { why: string; base: string; manifest?: unknown; set?: Record<string, unknown>; delete?: string[]; message?: string; languages?: string[] }
const FIXTURE = JSON.parse(readFileSync(`${ROOT}/tests/fixtures/manifests.json`, 'utf8')) as {
  bases: Record<string, unknown>; valid: Case[]; invalid: Case[]; tooManyValues: Case & { labels: number };
};

/** The case's manifest: its base with the fields set and deleted (dotted paths; a number indexes a list). */
function caseManifest(c: Case): unknown {
  if ('manifest' in c) return c.manifest;
  const m = structuredClone(FIXTURE.bases[c.base]);
  const at = (path: string): [Record<string, unknown>, string] => {
    const keys = path.split('.');
    const parent = keys.slice(0, -1).reduce<Record<string, unknown>>((o, k) => o[k] as Record<string, unknown>, m as Record<string, unknown>);
    return [parent, keys[keys.length - 1]];
  };
  for (const [path, value] of Object.entries(c.set ?? {})) {
    const [parent, key] = at(path);
    parent[key] = structuredClone(value);
  }
  for (const path of c.delete ?? []) {
    const [parent, key] = at(path);
    delete parent[key];
  }
  return m;
}

function verdict(c: Case): string | null {
  try {
    parseManifest(caseManifest(c));
    return null;
  } catch (e) {
    expect(e).toBeInstanceOf(ManifestError);
    return (e as Error).message;
  }
}

describe('tests/fixtures/manifests.json', () => {
  it.each(FIXTURE.valid.map((c) => [c.why, c] as const))('accepts %s', (_why, c) => {
    expect(verdict(c)).toBeNull();
  });
  const app = FIXTURE.invalid.filter((c) => !c.languages || c.languages.includes('ts'));
  it.each(app.map((c) => [c.why, c] as const))('refuses %s', (_why, c) => {
    expect(verdict(c)).toBe(c.message);
  });
  it.each(FIXTURE.invalid.filter((c) => !app.includes(c)).map((c) => [c.why, c] as const))('accepts, unlike %s', (_why, c) => {
    expect(verdict(c)).toBeNull();
  });
  it('refuses a manifest of too many values before listing its errors', () => {
    const c = FIXTURE.tooManyValues;
    const labels = Array.from({ length: c.labels }, (_, i) => i % 1000);
    expect(verdict({ ...c, set: { labels } })).toBe(c.message);
    expect(verdict({ ...c, set: { labels: labels.map(() => -1) } })).toBe(c.message);
  });

  it('holds cases of every kind', () => {
    expect(FIXTURE.valid.length).toBeGreaterThanOrEqual(5);
    expect(app.length).toBeGreaterThanOrEqual(50);
  });
});
