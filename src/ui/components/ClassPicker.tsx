// Searchable ImageNet class picker (ARIA combobox + listbox). Classes the loaded pack does not
// know stay visible but are marked and cannot be chosen. While a pack loads nothing is known yet:
// every class can be chosen, and the choice is checked when the pack is ready (adoptPack).
import { useId, useMemo, useState, type KeyboardEvent } from 'react';
import { IMAGENET_CLASSES, searchClasses, shortName, type ClassMatch } from '../data/classes';
import { useApp } from '../store/store';

const label = (index: number) => `${shortName(index)} (${index})`;
const EVERY_CLASS: ReadonlySet<number> = new Set(IMAGENET_CLASSES.map((_, i) => i));

export function ClassPicker() {
  const value = useApp((s) => s.params.imagenetClass);
  const setParam = useApp((s) => s.setParam);
  const labels = useApp((s) => s.manifest?.labels);
  // No pack yet: do not disable every option, keep the choice and let the pack validate it.
  const known = useMemo(() => (labels ? new Set(labels) : EVERY_CLASS), [labels]);
  const [query, setQuery] = useState<string | null>(null); // null: not editing, show the choice
  const [active, setActive] = useState(0);
  const listId = useId();
  const open = query !== null;
  const matches = useMemo(() => (open ? searchClasses(query, known) : []), [open, query, known]);

  const choose = (m: ClassMatch | undefined) => {
    if (!m || !m.inPack) return;
    setParam('imagenetClass', m.index);
    setQuery(null);
  };
  const move = (delta: number) => {
    if (!matches.length) return;
    setActive((a) => (a + delta + matches.length) % matches.length);
  };
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    switch (e.key) {
      case 'ArrowDown':
        e.preventDefault();
        if (!open) setQuery('');
        else move(1);
        return;
      case 'ArrowUp':
        e.preventDefault();
        move(-1);
        return;
      case 'Enter':
        if (!open) return;
        e.preventDefault();
        // Enter takes the highlighted class, or the first one the pack knows.
        choose(matches[active]?.inPack ? matches[active] : matches.find((m) => m.inPack));
        return;
      case 'Escape':
        setQuery(null);
        return;
      default:
        return;
    }
  };

  const activeId = open && matches[active] ? `${listId}-${matches[active].index}` : undefined;
  return (
    <div className="class-picker">
      <label htmlFor={`${listId}-input`}>Class</label>
      <input
        id={`${listId}-input`}
        role="combobox"
        aria-label="Class"
        aria-expanded={open}
        aria-controls={listId}
        aria-autocomplete="list"
        aria-activedescendant={activeId}
        autoComplete="off"
        spellCheck={false}
        placeholder="Search 1000 ImageNet classes"
        value={open ? query : label(value)}
        onFocus={(e) => e.currentTarget.select()}
        onChange={(e) => {
          setQuery(e.target.value);
          setActive(0);
        }}
        onKeyDown={onKeyDown}
        onBlur={() => setQuery(null)}
      />
      {open && (
        <ul id={listId} role="listbox" aria-label="Classes" className="class-list">
          {matches.length === 0 && <li className="empty">No class matches “{query}”</li>}
          {matches.map((m, i) => (
            <li
              key={m.index}
              id={`${listId}-${m.index}`}
              role="option"
              aria-selected={m.index === value}
              aria-disabled={!m.inPack}
              className={`${i === active ? 'active' : ''} ${m.inPack ? '' : 'unknown'}`}
              onMouseDown={(e) => e.preventDefault() /* keep focus in the input */}
              onClick={() => choose(m)}
              onMouseEnter={() => setActive(i)}
            >
              <span className="idx">{m.index}</span> {m.name}
              {!m.inPack && <span className="tag"> not in this pack</span>}
            </li>
          ))}
        </ul>
      )}
      <p className="hint">
        {labels ? `${labels.length} of 1000 classes are in this pack.` : 'The pack is loading: any class can be picked, and it is checked once the pack is ready.'}
      </p>
    </div>
  );
}
