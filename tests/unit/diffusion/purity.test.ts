// src/diffusion (pure math) and src/checkpoint (the torch.save reader) must stay pure: they run in the
// browser worker, in Node and in tests alike.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe.each(['diffusion', 'checkpoint'])('src/%s purity', (folder) => {
  const DIR = fileURLToPath(new URL(`../../../src/${folder}/`, import.meta.url));
  const files = readdirSync(DIR, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));

  it('has source files', () => expect(files.length).toBeGreaterThan(5));

  it.each(files)('%s imports no runtime/UI/Node library and touches no DOM, Node global or Math.random', (f) => {
    // Comments may mention what the code deliberately avoids; only code is checked.
    const src = readFileSync(DIR + f, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '').replace(/\s\/\/ .*$/gm, '');
    const imports = [...src.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1]);
    for (const spec of imports) {
      expect(spec, `${f} imports ${spec}`).toMatch(/^\.\.?\//);
      expect(spec).not.toMatch(/onnxruntime|react/);
    }
    expect(src).not.toMatch(/onnxruntime|from\s+['"]react/);
    expect(src).not.toMatch(/\bdocument\.|\bwindow\./);
    expect(src).not.toMatch(/\bBuffer\b|\bprocess\.|\brequire\(/);
    expect(src).not.toMatch(/Math\.random/);
  });
});
