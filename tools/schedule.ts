// npm run --silent schedule -- --noise-schedule cosine|linear --diffusion-steps 1000 --respacing ddim25
// Prints {"timesteps":[...],"betas":[...]}: the ORIGINAL timesteps kept by the respacing and the
// respaced betas (the process the sampler really runs), computed by src/diffusion.
import { createProcess, isNoiseSchedule } from '../src/diffusion';
import { CliError, asUserError, integer, parseFlags, runMain, str } from './lib/cli';

const USAGE = 'usage: schedule --noise-schedule linear|cosine [--diffusion-steps 1000] [--respacing 250|ddim25|10,10,10]';

runMain('schedule', async () => {
  const flags = parseFlags(process.argv.slice(2), {
    'noise-schedule': 'string', 'diffusion-steps': 'string', respacing: 'string', help: 'boolean',
  });
  if (flags.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const schedule = str(flags, 'noise-schedule');
  if (schedule === undefined) throw new CliError(`--noise-schedule is required (${USAGE})`);
  if (!isNoiseSchedule(schedule)) throw new CliError(`unknown noise schedule "${schedule}" (expected "linear" or "cosine")`);
  const steps = integer(str(flags, 'diffusion-steps') ?? '1000', 'diffusion-steps', 1);
  const respacing = str(flags, 'respacing') ?? '';
  const p = asUserError(() => createProcess({ noiseSchedule: schedule, diffusionSteps: steps, timestepRespacing: respacing, learnSigma: true }));
  process.stdout.write(`${JSON.stringify({ timesteps: Array.from(p.timestepMap), betas: Array.from(p.betas) })}\n`);
});
