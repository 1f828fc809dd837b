import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';

/**
 * Every path under `root`, sorted, with its kind, mode and (for files) a hash of its content:
 * two equal snapshots mean nothing under `root` was created, removed, changed or re-moded.
 */
export async function diskSnapshot(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir).catch(() => [])).sort()) {
      const path = join(dir, name);
      const info = await stat(path);
      const mode = (info.mode & 0o777).toString(8);
      if (info.isDirectory()) {
        out.push(`${relative(root, path)}/ ${mode}`);
        await walk(path);
      } else {
        const hash = createHash('sha256')
          .update(await readFile(path))
          .digest('hex');
        out.push(`${relative(root, path)} ${mode} ${hash}`);
      }
    }
  };
  await walk(root);
  return out;
}
