/**
 * A uPlot line chart that follows its container's width and the theme.
 *
 * The run state already thins curves to at most 4000 points, so each update
 * is a plain `setData`; updates come at most once per animation frame (the
 * page batches renders). The chart is created lazily once its container has a
 * width: a chart in a hidden tab would otherwise be built at zero size.
 *
 * For tests and assistive tools the container carries what is drawn:
 * data-points (x values), data-first-x / data-last-x, data-last (the last
 * value of each series, comma separated), data-colors (the series colours,
 * taken from the theme's --vscode-charts-* variables).
 */
import uPlot from 'uplot';
import { chartColors } from '../theme';

export interface SeriesSpec {
  label: string;
  /** Index into the theme's chart palette. */
  color: number;
  width?: number;
  /** 0..1, for raw data drawn under a smoothed line. */
  alpha?: number;
  dash?: number[];
}

export interface ChartSpec {
  /** Accessible name, e.g. "Training loss per step". */
  title: string;
  xLabel: string;
  series: SeriesSpec[];
  height?: number;
  /** Tick label formatting of the y axis. */
  yFormat?: (v: number) => string;
  /** Whole-number x ticks only (epochs). */
  integerX?: boolean;
  /** Fixed y range, e.g. [0, 100] for percentages. */
  yRange?: [number, number];
}

type Data = [number[], ...(number | null)[][]];

export class LineChart {
  private plot: uPlot | undefined;
  private data: Data;
  private readonly resize: ResizeObserver;
  private lastWidth = 0;
  /** Smallest right end of the x axis (e.g. the run's epoch count), so a first point is not alone on a 0..100 axis. */
  private xMax: number | undefined;

  constructor(
    private readonly host: HTMLElement,
    private readonly spec: ChartSpec,
  ) {
    this.data = [[], ...spec.series.map(() => [])];
    host.classList.add('chart');
    host.setAttribute('role', 'img');
    host.setAttribute('aria-label', spec.title);
    this.describe();
    this.resize = new ResizeObserver(() => this.fit());
    this.resize.observe(host);
  }

  setData(x: number[], ys: (number | null)[][], xMax?: number): void {
    this.data = [x, ...ys];
    this.xMax = xMax;
    this.describe();
    if (this.plot) this.plot.setData(this.data as uPlot.AlignedData);
    else this.fit();
  }

  /** Rebuild with the current theme's colours (canvas colours do not follow CSS). */
  retheme(): void {
    this.plot?.destroy();
    this.plot = undefined;
    this.lastWidth = 0;
    this.fit();
  }

  destroy(): void {
    this.resize.disconnect();
    this.plot?.destroy();
    this.plot = undefined;
  }

  private describe(): void {
    const x = this.data[0];
    this.host.dataset.points = String(x.length);
    this.host.dataset.firstX = x.length ? String(x[0]) : '';
    this.host.dataset.lastX = x.length ? String(x[x.length - 1]) : '';
    this.host.dataset.last = this.data
      .slice(1)
      .map((s) => {
        const v = s[s.length - 1];
        return v === null || v === undefined ? '' : String(v);
      })
      .join(',');
  }

  private fit(): void {
    const width = Math.floor(this.host.clientWidth);
    if (width <= 0) return;
    if (this.plot && width === this.lastWidth) return;
    this.lastWidth = width;
    const height = this.spec.height ?? 220;
    if (this.plot) this.plot.setSize({ width, height });
    else this.plot = new uPlot(this.options(width, height), this.data as uPlot.AlignedData, this.host);
  }

  private options(width: number, height: number): uPlot.Options {
    const c = chartColors();
    // What the canvas was drawn with, for tests: the theme's colours, not CSS-resolved ones.
    this.host.dataset.colors = this.spec.series.map((s) => c.series[s.color % c.series.length]).join(' ');
    const axis = (label: string, values?: uPlot.Axis['values'], incrs?: number[]): uPlot.Axis => ({
      label,
      stroke: c.foreground,
      font: c.font,
      labelFont: c.font,
      grid: { stroke: c.grid, width: 1 },
      ticks: { stroke: c.grid, width: 1 },
      ...(values ? { values } : {}),
      ...(incrs ? { incrs } : {}),
    });
    const yFormat = this.spec.yFormat;
    return {
      width,
      height,
      scales: {
        x: {
          time: false,
          ...(this.spec.integerX
            ? {
                // From the data itself: uPlot pads a lone point to 0..100 before calling this.
                range: (u: uPlot): uPlot.Range.MinMax => {
                  const xs = u.data[0];
                  const lo = Math.min(0, xs[0] ?? 0);
                  return [lo, Math.max(xs[xs.length - 1] ?? 1, this.xMax ?? 1, lo + 1)];
                },
              }
            : {}),
        },
        ...(this.spec.yRange ? { y: { range: this.spec.yRange } } : {}),
      },
      axes: [
        axis(
          this.spec.xLabel,
          this.spec.integerX ? (_u, splits) => splits.map((v) => (Number.isInteger(v) ? String(v) : '')) : undefined,
          this.spec.integerX ? [1, 2, 5, 10, 20, 50, 100] : undefined,
        ),
        { ...axis('', yFormat ? (_u, splits) => splits.map((v) => yFormat(v)) : undefined), size: 60 },
      ],
      series: [
        { label: this.spec.xLabel },
        ...this.spec.series.map((s): uPlot.Series => ({
          label: s.label,
          stroke: c.series[s.color % c.series.length],
          width: s.width ?? 1.5,
          spanGaps: true,
          points: { show: this.spec.integerX === true, size: 6 },
          ...(s.alpha !== undefined ? { alpha: s.alpha } : {}),
          ...(s.dash ? { dash: s.dash } : {}),
          ...(yFormat ? { value: (_u: uPlot, v: number | null) => (v === null ? '–' : yFormat(v)) } : {}),
        })),
      ],
      legend: { show: true },
      cursor: { drag: { x: true, y: false } },
    };
  }
}
