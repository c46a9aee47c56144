import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StopText } from '../../../src/server/stop-text.js';

/** What a stream of pieces sends, piece by piece, and whether it stopped. */
function run(stops: string[], pieces: string[]): { sent: string[]; stopped: boolean } {
  const s = new StopText(stops);
  const sent = pieces.map((p) => s.push(p));
  sent.push(s.flush());
  return { sent, stopped: s.stopped };
}

test('stop strings: the text ends before the first one, even split across pieces; a partial match is held, then sent', () => {
  assert.deepEqual(run(['END'], ['Hello E', 'N', 'D more']), { sent: ['Hello ', '', '', ''], stopped: true });
  assert.deepEqual(run(['END'], ['Hello E', 'NVY']), { sent: ['Hello ', 'ENVY', ''], stopped: false });
  assert.deepEqual(run(['\n\n', 'Q:'], ['a\nQ', ':b']), { sent: ['a\n', '', ''], stopped: true });
  assert.deepEqual(run(['xyz'], ['ends with xy']), { sent: ['ends with ', 'xy'], stopped: false });
  assert.deepEqual(run([], ['plain']), { sent: ['plain', ''], stopped: false });
});
