// Writes an action file received in an `update` message into actions_dir, atomically and nowhere else.
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { lstat, open, rename, unlink } from "node:fs/promises";
import { join } from "node:path";

/** Largest action file an update may carry, decoded. Stock fail2ban actions are under 16 KiB. */
export const MAX_ACTION_FILE_BYTES = 256 * 1024;

/** A name the original produced (base name, extension and dots removed): letters, digits, `_`, `-`. */
const ACTION_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export class UpdateRefusedError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UpdateRefusedError";
  }
}

/** Checks an update's file name; returns the file it will write (`<name>.conf`). */
export function actionFileName(name: string): string {
  if (!ACTION_NAME.test(name)) {
    throw new UpdateRefusedError(
      `update: file name ${JSON.stringify(name.slice(0, 80))} refused: expected 1-64 letters, digits, "_" or "-"`,
    );
  }
  return `${name}.conf`;
}

/** Decodes base64 strictly: anything that is not canonical base64 is refused, not silently trimmed. */
export function decodeActionContent(base64: string): Buffer {
  if (base64.length > Math.ceil((MAX_ACTION_FILE_BYTES * 4) / 3) + 4) {
    throw new UpdateRefusedError(`update: content larger than ${MAX_ACTION_FILE_BYTES} bytes refused`);
  }
  const content = Buffer.from(base64, "base64");
  if (content.toString("base64") !== base64)
    throw new UpdateRefusedError("update: content is not valid base64");
  if (content.length > MAX_ACTION_FILE_BYTES) {
    throw new UpdateRefusedError(`update: content larger than ${MAX_ACTION_FILE_BYTES} bytes refused`);
  }
  if (content.includes(0)) throw new UpdateRefusedError("update: content contains NUL bytes, refused");
  return content;
}

/**
 * Writes `content` to `<actionsDir>/<name>.conf` with mode 0640: a temp file created exclusively
 * (never through a planted symlink), flushed, then renamed over the target (rename replaces a symlink
 * at the target instead of following it). Returns the path written.
 */
export async function writeActionFile(actionsDir: string, name: string, content: Buffer): Promise<string> {
  const fileName = actionFileName(name);
  const dirStat = await lstat(actionsDir);
  if (!dirStat.isDirectory())
    throw new UpdateRefusedError(`update: actions_dir ${actionsDir} is not a directory`);
  const target = join(actionsDir, fileName);
  const temp = join(actionsDir, `.${fileName}.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(
    temp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o640,
  );
  try {
    await handle.writeFile(content);
    await handle.chmod(0o640);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, target);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  return target;
}
