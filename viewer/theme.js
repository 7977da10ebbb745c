// Light and dark: the page follows the system's prefers-color-scheme until the user picks one
// with the toggle, which is remembered (localStorage, per origin). The choice is
// `<html data-theme="light|dark">`; style.css holds both palettes. Shared by the viewer and
// the hub's run list.

export const THEME_KEY = 'jb-live-theme';

export function storedTheme() {
  try {
    const value = localStorage.getItem(THEME_KEY);
    return value === 'light' || value === 'dark' ? value : null;
  } catch {
    return null; // storage refused (a sandboxed file:// page): follow the system
  }
}

export function systemTheme() {
  return window.matchMedia && window.matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark';
}

export function applyTheme(theme, button = null) {
  document.documentElement.dataset.theme = theme;
  if (button) {
    const other = theme === 'dark' ? 'light' : 'dark';
    button.setAttribute('aria-label', `Switch to the ${other} theme`);
    button.title = `Switch to the ${other} theme`;
    button.dataset.theme = theme;
    const icon = button.querySelector('.theme-icon');
    if (icon) icon.textContent = theme === 'dark' ? '☾' : '☀';
  }
  // Canvas panels read colours from the CSS variables: let them redraw.
  window.dispatchEvent(new CustomEvent('jb-live-theme', { detail: theme }));
}

/** Theme the page now, and wire the toggle button (any element with data-testid=theme-toggle). */
export function mountTheme(button = document.querySelector('[data-testid="theme-toggle"]')) {
  applyTheme(storedTheme() ?? systemTheme(), button);
  if (window.matchMedia) {
    window.matchMedia('(prefers-color-scheme: light)').addEventListener('change', () => {
      if (storedTheme() === null) applyTheme(systemTheme(), button);
    });
  }
  if (button) {
    button.addEventListener('click', () => {
      const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
      try {
        localStorage.setItem(THEME_KEY, next);
      } catch {
        // not remembered, still switched
      }
      applyTheme(next, button);
    });
  }
}
