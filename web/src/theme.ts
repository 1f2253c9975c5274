/**
 * Light or dark: the system's preference (prefers-color-scheme) until the operator picks one with
 * the toggle, which is remembered in this browser. Applied as `data-theme` on <html>; styles.css
 * keeps one palette per theme in CSS variables, and the charts read them when drawn.
 */
import { useSyncExternalStore } from 'react';

export type Theme = 'light' | 'dark';
const KEY = 'drover-theme';
const listeners = new Set<() => void>();
const media = window.matchMedia('(prefers-color-scheme: dark)');

function chosen(): Theme | undefined {
  try {
    const v = localStorage.getItem(KEY);
    return v === 'light' || v === 'dark' ? v : undefined;
  } catch {
    return undefined;
  }
}

export function currentTheme(): Theme {
  return chosen() ?? (media.matches ? 'dark' : 'light');
}

function apply(): void {
  document.documentElement.dataset['theme'] = currentTheme();
  for (const fn of listeners) fn();
}

media.addEventListener('change', apply);
apply();

export function setTheme(theme: Theme): void {
  try {
    localStorage.setItem(KEY, theme);
  } catch {
    // Storage refused (private mode): the choice lasts for this page only.
  }
  document.documentElement.dataset['theme'] = theme;
  for (const fn of listeners) fn();
}

export function useTheme(): Theme {
  return useSyncExternalStore(
    (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    () => (document.documentElement.dataset['theme'] === 'dark' ? 'dark' : 'light'),
  );
}
