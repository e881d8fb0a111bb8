// Shared test helpers: fixture loading and tolerant array comparison.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

const FIXTURES = fileURLToPath(new URL('../../fixtures/diffusion/', import.meta.url));

export function fixture<T>(name: string): T {
  return JSON.parse(readFileSync(FIXTURES + name, 'utf8')) as T;
}

export interface RespacingCases {
  accepted: { diffusionSteps: number; respacing: string; steps: number[] }[];
  rejected: { diffusionSteps: number; respacing: string; message: string }[];
}

/** tests/fixtures/respacing.json: the respacing strings both languages' parsers are checked against. */
export function respacingFixture(): RespacingCases {
  return JSON.parse(readFileSync(fileURLToPath(new URL('../../fixtures/respacing.json', import.meta.url)), 'utf8')) as RespacingCases;
}

/** |a - b| <= atol + rtol * |b| elementwise; reports the worst element on failure. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol = 0, what = ''): void {
  expect(actual.length, `${what} length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let k = 0; k < expected.length; k++) {
    const err = Math.abs(actual[k] - expected[k]);
    const excess = err - (atol + rtol * Math.abs(expected[k]));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = k;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    expect.fail(`${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`);
  }
}
