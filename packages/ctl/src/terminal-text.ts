// Text from other hosts (an agent's `detail` and stderr, the server's `refused`, a jail name, a broker's
// error) made safe to print: a control character reaching a terminal can move the cursor, rewrite
// earlier lines, set the window title or, on some terminals, answer back, so none is printed raw.

/**
 * C0 (with TAB, CR, LF), DEL, C1, and the Unicode line separators and bidi overrides, which can make a
 * line read as something it is not.
 */
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { "\t": "\\t", "\n": "\\n", "\r": "\\r", "\u001b": "\\x1b" };

function escapeOne(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const code = c.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}

/** `text` with every control character written as an escape (ESC as `\x1b`, LF as `\n`): one line. */
export function escapeControls(text: string): string {
  return text.replace(CONTROL_RE, escapeOne);
}

/**
 * JSON text with DEL, C1 and the characters above also written as `\uXXXX` (JSON.stringify escapes
 * C0 only): the same value for a parser, nothing raw for a terminal.
 */
export function escapeJsonControls(json: string): string {
  return json.replace(CONTROL_RE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
