// The one error a receiver sees for any bad message: fixed text outside, the precise reason for logs only.

/** Machine-readable cause of a rejection; `reason` adds a short detail after the code. */
export type RejectCode =
  | "bad-length"
  | "wrong-version"
  | "wrong-direction"
  | "wrong-key-id"
  | "mac-mismatch"
  | "bad-padding"
  | "bad-utf8"
  | "bad-json"
  | "schema"
  | "wrong-command"
  | "expired"
  | "future"
  | "expires-passed"
  | "replay";

/**
 * Thrown for every message that cannot be accepted, whatever the cause: the `message` is always exactly
 * "message rejected" so nothing secret-dependent (padding, MAC, parse position) leaks to a sender that
 * sees error text. Log `reason` (and `code`); never send either back.
 */
export class MessageRejectedError extends Error {
  /** The cause class, for metrics and tests. */
  readonly code: RejectCode;
  /** `code`, or `code: detail`, e.g. `"schema: params.ip: Too big: expected string to have <=4096 characters"`. */
  readonly reason: string;

  constructor(code: RejectCode, detail?: string, options?: ErrorOptions) {
    super("message rejected", options);
    this.name = "MessageRejectedError";
    this.code = code;
    this.reason = detail === undefined ? code : `${code}: ${detail.slice(0, 300)}`;
  }
}
