/**
 * Colours for the canvas charts, read from VS Code's theme variables (a canvas
 * cannot use CSS variables directly), and a watch that tells when the theme
 * changes: VS Code rewrites the variables on <html> and the theme class on <body>.
 */

export interface ChartColors {
  foreground: string;
  grid: string;
  series: string[];
  font: string;
}

function cssVar(name: string, fallback: string): string {
  const v =
    getComputedStyle(document.documentElement).getPropertyValue(name).trim() ||
    getComputedStyle(document.body).getPropertyValue(name).trim();
  return v || fallback;
}

export function chartColors(): ChartColors {
  const family = cssVar('--vscode-font-family', 'sans-serif');
  return {
    foreground: cssVar('--vscode-charts-foreground', cssVar('--vscode-foreground', '#888888')),
    grid: cssVar('--vscode-charts-lines', 'rgba(128, 128, 128, 0.35)'),
    // Blue, green, orange, purple, red, yellow: VS Code's chart palette, distinct in every built-in theme.
    series: [
      cssVar('--vscode-charts-blue', '#3794ff'),
      cssVar('--vscode-charts-green', '#89d185'),
      cssVar('--vscode-charts-orange', '#d18616'),
      cssVar('--vscode-charts-purple', '#b180d7'),
      cssVar('--vscode-charts-red', '#f14c4c'),
      cssVar('--vscode-charts-yellow', '#cca700'),
    ],
    font: `11px ${family}`,
  };
}

/** Call `onChange` after each theme switch; returns the disposer. */
export function watchTheme(onChange: () => void): () => void {
  let pending = false;
  const observer = new MutationObserver(() => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      onChange();
    });
  });
  observer.observe(document.body, { attributes: true, attributeFilter: ['class', 'data-vscode-theme-kind'] });
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
  return () => observer.disconnect();
}
