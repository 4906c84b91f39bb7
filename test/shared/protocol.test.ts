import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineSplitter, PROTOCOL_VERSION, makeEvent, parseEventLine, serializeEvent } from '../../src/shared/protocol';

test('events round-trip through a JSON line with the envelope', () => {
  const e = makeEvent({ type: 'step', step: 3, epoch: 1, loss: 0.5, lr: 1e-4 }, new Date('2026-01-02T03:04:05Z'));
  const line = serializeEvent(e);
  assert.equal(line.includes('\n'), false);
  const parsed = parseEventLine(line);
  assert.equal(parsed.kind, 'event');
  assert.deepEqual(parsed.kind === 'event' && parsed.event, {
    v: PROTOCOL_VERSION,
    time: '2026-01-02T03:04:05.000Z',
    type: 'step',
    step: 3,
    epoch: 1,
    loss: 0.5,
    lr: 1e-4,
  });
});

test('non-events are classified, never thrown', () => {
  assert.deepEqual(parseEventLine('Hi there'), { kind: 'not-an-event', line: 'Hi there', reason: 'not JSON' });
  assert.equal(parseEventLine('{"v":1,').kind, 'not-an-event');
  assert.equal(parseEventLine('{"type":"step"}').kind, 'not-an-event', 'no version');
  const future = parseEventLine('{"v":2,"type":"step"}');
  assert.equal(future.kind === 'not-an-event' && future.reason, 'protocol version 2, expected 1');
  assert.deepEqual(parseEventLine('{"v":1,"time":"t","type":"gpu_temperature"}'), {
    kind: 'unknown-event',
    type: 'gpu_temperature',
  });
});

test('LineSplitter reassembles lines split across chunks, CRLF included', () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push('{"a":'), []);
  assert.deepEqual(s.push('1}\r\n{"b"'), ['{"a":1}']);
  assert.deepEqual(s.push(':2}\n\n'), ['{"b":2}']);
  assert.deepEqual(s.push('tail'), []);
  assert.deepEqual(s.end(), ['tail']);
  assert.deepEqual(s.end(), []);
});
