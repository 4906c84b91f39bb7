/** Reading line-oriented text files (SOP lists, JSONL) with their line numbers. */
import * as fs from 'node:fs';
import { DataError } from './problems';

export interface NumberedLine {
  /** 1-based line number in the file. */
  line: number;
  text: string;
}

/**
 * Non-blank lines with their numbers. A UTF-8 BOM, Windows line ends (CRLF)
 * and trailing blank lines are tolerated; blank lines in the middle are skipped
 * but still counted, so numbers match what an editor shows.
 */
export function splitNumberedLines(text: string): NumberedLine[] {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const out: NumberedLine[] = [];
  const raw = body.split('\n');
  for (let i = 0; i < raw.length; i++) {
    const t = raw[i]!.endsWith('\r') ? raw[i]!.slice(0, -1) : raw[i]!;
    if (t.trim().length > 0) out.push({ line: i + 1, text: t });
  }
  return out;
}

/** The whole file as text; a missing or unreadable file is a DataError naming it. */
export function readDataText(file: string, what: string, hint?: string): string {
  try {
    // A named pipe or a device would block the read in a system call, where no signal handler runs.
    const st = fs.statSync(file);
    if (!st.isFile() && !st.isDirectory())
      throw new DataError(
        `${what} ${file}: not a regular file`,
        [{ kind: 'missing-file', file, message: 'not a regular file' }],
        hint,
      );
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof DataError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'not found' : code === 'EISDIR' ? 'is a folder, not a file' : (e as Error).message;
    throw new DataError(`${what} ${file}: ${reason}`, [{ kind: 'missing-file', file, message: reason }], hint);
  }
}
