// The four views as tabs (WAI-ARIA tabs pattern, automatic activation): Single, Sweep, Diversity, Trade-off.
// Arrow keys, Home and End move between tabs; only the chosen view's panel is rendered. The view is
// a param (URL `view`), so Generate, Stop and the status line serve whichever view is chosen.
import { useId, useRef, type ComponentType, type KeyboardEvent } from 'react';
import type { View } from '../../shared/protocol';
import { useApp } from '../store/store';
import { DiversityView } from './DiversityView';
import { SingleView } from './SingleView';
import { SweepView } from './SweepView';
import { TradeoffView } from './TradeoffView';

const TABS: { view: View; label: string }[] = [
  { view: 'single', label: 'Single' },
  { view: 'sweep', label: 'Sweep' },
  { view: 'diversity', label: 'Diversity' },
  { view: 'tradeoff', label: 'Trade-off' },
];

const PANELS: Record<View, ComponentType> = { single: SingleView, sweep: SweepView, diversity: DiversityView, tradeoff: TradeoffView };

export function ViewTabs() {
  const id = useId();
  const view = useApp((s) => s.params.view);
  const setParam = useApp((s) => s.setParam);
  const refs = useRef<(HTMLButtonElement | null)[]>([]);
  const current = Math.max(0, TABS.findIndex((t) => t.view === view));
  const Panel = PANELS[TABS[current].view];

  const select = (k: number) => {
    const i = (k + TABS.length) % TABS.length;
    setParam('view', TABS[i].view);
    refs.current[i]?.focus();
  };
  const onKeyDown = (e: KeyboardEvent<HTMLButtonElement>) => {
    const moves: Record<string, number> = { ArrowRight: current + 1, ArrowLeft: current - 1, Home: 0, End: TABS.length - 1 };
    if (!(e.key in moves)) return;
    e.preventDefault();
    select(moves[e.key]);
  };

  return (
    <div className="views">
      <div role="tablist" aria-label="Views" className="tablist">
        {TABS.map((t, i) => (
          <button
            key={t.view}
            ref={(el) => {
              refs.current[i] = el;
            }}
            type="button"
            role="tab"
            id={`${id}-tab-${t.view}`}
            aria-selected={i === current}
            aria-controls={`${id}-panel`}
            tabIndex={i === current ? 0 : -1}
            onClick={() => select(i)}
            onKeyDown={onKeyDown}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`${id}-panel`} aria-labelledby={`${id}-tab-${TABS[current].view}`} className="tabpanel">
        <Panel />
      </div>
    </div>
  );
}
