// Pure parts of the views: the exported PNG's layout and name, the heat map colours, the step-chart
// points and the diversity read-out lines.
import { describe, expect, it } from 'vitest';
import { seriesPoints } from '../../../src/ui/chartPoints';
import { diversityNotes } from '../../../src/ui/diversityNotes';
import { exportHeader, gridPngName, planExport } from '../../../src/ui/exportGrid';
import { diversityLayout, sweepLayout } from '../../../src/ui/gridRequest';
import { heatToRgba } from '../../../src/ui/heatColors';
import { INITIAL_PARAMS } from '../../../src/ui/store/paramsSlice';
import type { GenerateParams } from '../../../src/shared/protocol';

const both = { cfg: true, classifier: true };
const gen: GenerateParams = { imagenetClass: 217, classifierScale: 4, steps: 25, sampler: 'ddim', seed: 0, conditionUnet: true, previewOf: 'predX0' };

describe('planExport', () => {
  it('places every cell once, upscaled to 128 px, with its label under it and titled rows', () => {
    const layout = sweepLayout({ ...INITIAL_PARAMS, seed: 0 }, both);
    const plan = planExport(layout, 64, 'header', [null, 'note']);
    expect(plan.tile).toBe(128);
    const tiles = plan.rows.flatMap((r) => r.tiles);
    expect(tiles.map((t) => t.index).sort((a, b) => a - b)).toEqual([...Array(12).keys()]);
    expect(plan.rows.map((r) => r.title.text)).toEqual(['Classifier guidance', 'Classifier-free guidance · note']);
    for (const t of tiles) {
      expect(t.x + plan.tile).toBeLessThanOrEqual(plan.width);
      expect(t.label.y).toBeGreaterThan(t.y + plan.tile);
      expect(t.label.y).toBeLessThanOrEqual(plan.height);
    }
    // Row 2 starts below row 1's labels.
    expect(plan.rows[1].tiles[0].y).toBeGreaterThan(plan.rows[0].tiles[0].label.y);
    expect(tiles[0].label.text).toBe('scale 0');
  });

  it('wraps diversity grids at their column count; small images zoom more', () => {
    const layout = diversityLayout({ ...INITIAL_PARAMS, diversitySeeds: 8 }, both);
    const plan = planExport(layout, 16, 'h');
    expect(plan.tile).toBe(128);
    const xs = new Set(plan.rows[0].tiles.map((t) => t.x));
    expect(xs.size).toBe(4);
    expect(new Set(plan.rows[0].tiles.map((t) => t.y)).size).toBe(2);
  });

  it('names the file and the header after the run', () => {
    const layout = sweepLayout({ ...INITIAL_PARAMS }, both);
    expect(gridPngName(gen, layout)).toBe('English_springer-sweep-Classifier_guidance-Classifier_free_guidance-ddim25-seed0.png');
    expect(exportHeader(gen, 'sweep')).toBe('English springer (217) · ddim 25 steps · seed 0 · sweep');
  });
});

describe('heat colours', () => {
  it('black at 0, white at the maximum, normalised per frame', () => {
    const out = heatToRgba(Float32Array.of(0, 0.5, 2), 2, new Uint8ClampedArray(12));
    expect(Array.from(out.subarray(0, 4))).toEqual([0, 0, 0, 255]);
    expect(Array.from(out.subarray(8, 12))).toEqual([255, 255, 255, 255]);
    expect(out[4]).toBeGreaterThan(out[5]); // a quarter: red before green
    expect(Array.from(heatToRgba(Float32Array.of(1), 0, new Uint8ClampedArray(4)))).toEqual([0, 0, 0, 255]);
    expect(() => heatToRgba(Float32Array.of(1), 1, new Uint8ClampedArray(3))).toThrow(/needs 4 bytes/);
  });
});

describe('seriesPoints', () => {
  it('skips null steps and spans the box', () => {
    const s = seriesPoints([1, null, 3], 3, 100, 50, 0)!;
    expect(s.lo).toBe(1);
    expect(s.hi).toBe(3);
    expect(s.points).toBe('0,50 100,0');
    expect(seriesPoints([null], 3, 10, 10, 0)).toBeNull();
  });
});

describe('diversityNotes', () => {
  it('live pixel L2 while running, then the final pixel and classifier distances', () => {
    const layout = diversityLayout({ ...INITIAL_PARAMS, diversitySeeds: 2 }, both);
    const run = { runId: 1, layout, step: 3, logp: null, pixelDiversity: [0.5, 0.25], groupLogp: null, readout: null };
    expect(diversityNotes(run)).toEqual([
      'diversity: pixel L2 0.500 (RMS of predicted x₀, step 3)',
      'diversity: pixel L2 0.250 (RMS of predicted x₀, step 3)',
    ]);
    const done = { ...run, readout: { pixelL2: [0.4, 0.2], classifierL2: [0.3, 0.1], logp: null } };
    expect(diversityNotes(done)[1]).toBe('diversity: pixel L2 0.200 (RMS, [−1, 1]) · classifier softmax L2 0.100');
    expect(diversityNotes(undefined)).toEqual([]);
  });
});
