// "Checkpoint URLs": the released .pt files by address, one per line, downloaded by the worker into the
// page's storage. Each line is checked here first (src/shared/checkpointUrl.ts, the rules the page's
// security policy is built from), so a URL the page may not fetch is named inline before anything starts.
import { useId, useState } from 'react';
import { checkpointUrlLines, checkpointUrlProblem } from '../../shared/checkpointUrl';

export function CheckpointUrls({ onUrls, disabled }: { onUrls: (urls: string[]) => void; disabled: boolean }) {
  const id = useId();
  const [text, setText] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const submit = () => {
    const urls = checkpointUrlLines(text);
    const page = globalThis.location.href;
    const bad = urls.map((u) => checkpointUrlProblem(u, page)).find((p) => p !== null);
    const found = urls.length === 0 ? 'give at least one URL of a .pt file' : (bad ?? null);
    setProblem(found);
    if (!found) onUrls(urls);
  };
  return (
    <form
      className="checkpoint-urls"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <label htmlFor={id}>Checkpoint URLs</label>
      <textarea
        id={id}
        rows={2}
        value={text}
        placeholder="https://…/64x64_diffusion.pt (one per line)"
        aria-invalid={problem !== null || undefined}
        aria-describedby={problem ? `${id}-problem` : undefined}
        onChange={(e) => setText(e.currentTarget.value)}
      />
      <button type="submit" disabled={disabled}>
        Download and build
      </button>
      {problem && (
        <p id={`${id}-problem`} className="field-error" role="alert">
          {problem}
        </p>
      )}
    </form>
  );
}
