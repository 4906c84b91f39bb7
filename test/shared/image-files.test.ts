// One list of searchable image files: the explorer menu's when-clause in
// package.json must accept exactly these, whatever their case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SEARCHABLE_IMAGE_EXTENSIONS, isSearchableImage } from '../../src/shared/imageFiles';

const manifest = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8'));

function explorerMenuPattern(): RegExp {
  const item = manifest.contributes.menus['explorer/context'].find(
    (m: { command: string }) => m.command === 'vembed.findSimilar',
  );
  const m = /resourceExtname =~ \/(.*)\/(\w*)$/.exec(item.when as string);
  assert.ok(m, `unexpected when-clause: ${item.when}`);
  return new RegExp(m[1]!, m[2]);
}

test('the explorer menu offers Find Similar Images for exactly the searchable extensions', () => {
  const menu = explorerMenuPattern();
  for (const ext of SEARCHABLE_IMAGE_EXTENSIONS) {
    assert.ok(menu.test(`.${ext}`), `menu misses .${ext}`);
    assert.ok(menu.test(`.${ext.toUpperCase()}`), `menu misses .${ext.toUpperCase()}`);
  }
  for (const other of ['.svg', '.yaml', '.jp', '.pngx', '.heic']) assert.ok(!menu.test(other), `menu accepts ${other}`);
});

test('isSearchableImage takes the last extension, in any case', () => {
  assert.equal(isSearchableImage('/a/b/photo.JPG'), true);
  assert.equal(isSearchableImage('C:\\pics\\x.avif'), true);
  assert.equal(isSearchableImage('archive.png.zip'), false);
  assert.equal(isSearchableImage('README'), false);
});
