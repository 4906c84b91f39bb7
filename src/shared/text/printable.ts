/**
 * Text safe to print on a terminal. Messages quote what the user's files hold
 * (a line of a list, a path), and a file of random bytes would otherwise send
 * escape sequences and control characters to the terminal as they are. Line
 * breaks and tabs stay; every other control character (C0, DEL, C1) is shown
 * as `\xNN`.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

export function printable(text: string): string {
  return text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
