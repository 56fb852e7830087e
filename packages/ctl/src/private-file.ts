// Writes a file only its owner may read (mode 0600), for output that holds passwords: through a temp
// file created exclusively (never an existing file or a planted symlink), flushed, then renamed over
// the target, so nobody can open it while it is readable by others or half written.
import { randomBytes } from "node:crypto";
import { constants, fstatSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** Writes `text` to `path` with mode 0600 whatever the umask; a file or symlink at `path` is replaced. */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(
    temp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    // open's mode goes through the umask, which can only take bits away: set it exactly.
    await handle.chmod(0o600);
    await handle.writeFile(text);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** `fd` is a regular file with group or other read access (`> file` under umask 022 gives 0644). */
export function fileReadableByOthers(fd: number): boolean {
  try {
    const stat = fstatSync(fd);
    return stat.isFile() && (stat.mode & 0o044) !== 0;
  } catch {
    return false;
  }
}
