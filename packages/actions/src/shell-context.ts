// Where in a /bin/sh script a marked spot sits (unquoted, in double quotes, in single quotes, ...):
// decides whether an unsafe caller-option value can be passed as a shell variable there.

/** Marks a spot in a script: NUL, a number, NUL (NUL appears nowhere else: values and files may not hold it). */
export const MARK_RE = /\u0000(\d+)\u0000/g;

export function mark(index: number): string {
  return `\u0000${index}\u0000`;
}

/**
 * How the shell reads a marked spot:
 * - `unquoted`: a plain word; a variable expansion there must be double-quoted to stay one word;
 * - `double`: inside "...": a variable expands as data;
 * - `comment`: after `#`: nothing is run, any text is harmless;
 * - otherwise the reason a variable cannot stand in for a literal value there.
 */
export type MarkContext =
  | "unquoted"
  | "double"
  | "comment"
  | {
      refused: string;
      /** Set when the spot names the program run or a file redirected to. */
      position?: "command" | "redirect";
      /** With `position`: the word's text before the spot. */
      prefix?: string;
    };

/** The part a word plays in a simple command. */
type WordRole = "command" | "redirect" | "argument";

interface Words {
  /** Role of the word being read; undefined between words. */
  role: WordRole | undefined;
  begin: number;
  /** The next word starts a command (after `;`, `|`, `&&`, a newline, `(`, `then`, an assignment, ...). */
  expectCommand: boolean;
  /** The next word is the target of `>`, `>>`, `<`, `>&`. */
  redirectNext: boolean;
}

interface Frame {
  kind: "top" | "double" | "subshell";
  depth: number;
  /** The words of the enclosing command, restored when a `$(...)` closes. */
  outer?: Words;
}

/** Words after which a command starts again (a reserved word in command position). */
const RESERVED_WORDS = new Set([
  "if",
  "then",
  "else",
  "elif",
  "do",
  "while",
  "until",
  "!",
  "{",
  "}",
  "fi",
  "done",
]);
const ASSIGNMENT_RE = /^[A-Za-z_][A-Za-z0-9_]*=/;
const COMMAND_BREAK = new Set([";", "&", "|", "\n", "("]);

const WORD_BREAK = new Set([" ", "\t", "\n", ";", "&", "|", "(", ")", "<", ">"]);

/** Classifies every mark in `script`; the result lists each occurrence of each mark index. */
export function markContexts(script: string): Map<number, MarkContext[]> {
  const found = new Map<number, MarkContext[]>();
  const note = (index: number, context: MarkContext): void => {
    const list = found.get(index) ?? [];
    list.push(context);
    found.set(index, list);
  };
  scan(script, note, false);
  return found;
}

function readMark(text: string, at: number): { index: number; end: number } | undefined {
  if (text[at] !== "\u0000") return undefined;
  const close = text.indexOf("\u0000", at + 1);
  if (close === -1) return undefined;
  return { index: Number(text.slice(at + 1, close)), end: close + 1 };
}

// Marks from `at` to the end, all with the same context (used once the scanner cannot follow).
function rest(
  text: string,
  at: number,
  note: (index: number, context: MarkContext) => void,
  context: MarkContext,
): void {
  for (const m of text.slice(at).matchAll(MARK_RE)) note(Number(m[1]), context);
}

// Finds the closing backquote (only backslash escapes count, as POSIX says), -1 if none.
function closingBackquote(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === "`") return i;
  }
  return -1;
}

// Index just after the `))` closing an arithmetic expansion that starts at `from`, -1 if none.
function closingArithmetic(text: string, from: number): number {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    if (text[i] === "(") depth++;
    else if (text[i] === ")") {
      if (depth === 0) return text[i + 1] === ")" ? i + 2 : -1;
      depth--;
    }
  }
  return -1;
}

function closingBrace(text: string, from: number): number {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === "{") depth++;
    else if (text[i] === "}") {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

function scan(
  text: string,
  note: (index: number, context: MarkContext) => void,
  inBackquotes: boolean,
): void {
  const stack: Frame[] = [{ kind: "top", depth: 0 }];
  let words: Words = { role: undefined, begin: 0, expectCommand: true, redirectNext: false };
  const beginWord = (at: number): void => {
    if (words.role !== undefined) return;
    words.role = words.redirectNext ? "redirect" : words.expectCommand ? "command" : "argument";
    words.redirectNext = false;
    words.begin = at;
  };
  const endWord = (at: number): void => {
    if (words.role === "command") {
      const word = text.slice(words.begin, at);
      if (word === "for" || word === "case") words.expectCommand = false;
      else if (!RESERVED_WORDS.has(word) && !ASSIGNMENT_RE.test(word)) words.expectCommand = false;
    }
    words.role = undefined;
  };
  // A value that names the program to run, or a file to redirect to, is refused wherever it sits in it.
  const positionRefusal = (at: number): MarkContext | undefined => {
    const prefix = text.slice(words.begin, at);
    if (words.role === "redirect") {
      return { refused: "as the target of a redirection (a file)", position: "redirect", prefix };
    }
    if (words.role === "command" && !ASSIGNMENT_RE.test(prefix)) {
      return { refused: "as the command to run", position: "command", prefix };
    }
    return undefined;
  };
  const restOf = (part: string, from: number, context: MarkContext): void => {
    rest(part, from, note, positionRefusal(from) ?? context);
  };
  let i = 0;
  while (i < text.length) {
    const frame = stack[stack.length - 1]!;
    const c = text[i]!;
    if (frame.kind !== "double" && words.role === undefined && !WORD_BREAK.has(c)) {
      if (c === "#") {
        const end = text.indexOf("\n", i);
        const stop = end === -1 ? text.length : end;
        rest(text.slice(0, stop), i, note, "comment");
        i = stop;
        continue;
      }
      beginWord(i);
    }
    const m = readMark(text, i);
    if (m !== undefined) {
      const refusal = positionRefusal(i);
      if (refusal !== undefined) note(m.index, refusal);
      else if (inBackquotes) note(m.index, { refused: "used inside backquotes (`...`)" });
      else note(m.index, frame.kind === "double" ? "double" : "unquoted");
      i = m.end;
      continue;
    }
    if (c === "\\") {
      if (readMark(text, i + 1) !== undefined) {
        const after = readMark(text, i + 1)!;
        note(after.index, positionRefusal(i) ?? { refused: "preceded by a backslash" });
        i = after.end;
      } else {
        i += 2;
      }
      continue;
    }
    if (c === "$") {
      const next = text[i + 1];
      const after = readMark(text, i + 1);
      if (after !== undefined) {
        note(after.index, positionRefusal(i) ?? { refused: "directly after a $" });
        i = after.end;
        continue;
      }
      if (next === "(" && text[i + 2] === "(") {
        const end = closingArithmetic(text, i + 3);
        if (end === -1) {
          restOf(text, i, { refused: "inside an unterminated $((...))" });
          return;
        }
        restOf(text.slice(0, end), i, { refused: "inside an arithmetic expansion $((...))" });
        i = end;
        continue;
      }
      if (next === "(") {
        stack.push({ kind: "subshell", depth: 0, outer: words });
        words = { role: undefined, begin: i + 2, expectCommand: true, redirectNext: false };
        i += 2;
        continue;
      }
      if (next === "{") {
        const end = closingBrace(text, i + 2);
        if (end === -1) {
          restOf(text, i, { refused: "inside an unterminated parameter expansion" });
          return;
        }
        restOf(text.slice(0, end + 1), i, { refused: "inside a parameter expansion" });
        i = end + 1;
        continue;
      }
      i += 1;
      continue;
    }
    if (c === "`") {
      const end = closingBackquote(text, i + 1);
      if (end === -1) {
        restOf(text, i, { refused: "inside an unterminated backquote" });
        return;
      }
      const refusal = positionRefusal(i);
      if (refusal !== undefined) rest(text.slice(0, end), i + 1, note, refusal);
      else scan(text.slice(i + 1, end), note, true);
      i = end + 1;
      continue;
    }
    if (frame.kind === "double") {
      if (c === '"') stack.pop();
      i += 1;
      continue;
    }
    // unquoted (top level or inside $(...))
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end === -1) {
        restOf(text, i + 1, { refused: "inside an unterminated single quote" });
        return;
      }
      restOf(text.slice(0, end), i + 1, { refused: "inside single quotes" });
      i = end + 1;
      continue;
    }
    if (c === '"') {
      stack.push({ kind: "double", depth: 0 });
      i += 1;
      continue;
    }
    if (c === "<" && text[i + 1] === "<") {
      endWord(i);
      rest(text, i, note, { refused: "after a here-document (<<)" });
      return;
    }
    if (frame.kind === "subshell") {
      if (c === "(") frame.depth++;
      else if (c === ")") {
        if (frame.depth === 0) {
          endWord(i);
          stack.pop();
          words = frame.outer ?? words;
          i += 1;
          continue;
        }
        frame.depth--;
      }
    }
    if (WORD_BREAK.has(c)) {
      endWord(i);
      const prev = text[i - 1];
      if ((c === "&" || c === "|") && (prev === ">" || prev === "<")) {
        // `>&2`, `>|file`: still the redirection's operator; its target comes next
      } else if (COMMAND_BREAK.has(c)) {
        words.expectCommand = true;
        words.redirectNext = false;
      } else if (c === ")") {
        words.expectCommand = false;
      } else if (c === "<" || c === ">") {
        words.redirectNext = true;
      }
    }
    i += 1;
  }
}
