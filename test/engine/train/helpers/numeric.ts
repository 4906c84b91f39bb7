/** Helpers for comparing numbers with a reference, and loading the committed fixtures. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const FIXTURES = path.join(__dirname, '..', '..', '..', 'fixtures', 'train');

export function loadFixture<T>(name: string): T {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8')) as T;
}

/**
 * Element-wise |actual - expected| <= atol + rtol * |expected| (numpy's
 * allclose); the message names the worst element.
 */
export function assertAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: { rtol: number; atol: number },
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length} vs expected ${expected.length}`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const excess = Math.abs(a - e) - (tol.atol + tol.rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    assert.fail(
      `${what}: element ${worst} is ${actual[worst]} but expected ${expected[worst]} (rtol ${tol.rtol}, atol ${tol.atol})`,
    );
  }
}

/** Largest |a - b| over two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Largest |x| of an array, to scale absolute tolerances to a gradient's size. */
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}
