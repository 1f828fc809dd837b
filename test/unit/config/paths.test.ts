import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { absoluteDir } from '../../../src/config/paths.js';
import { embeddedDataDir } from '../../../src/db/open.js';
import { ConfigError } from '../../../src/errors.js';
import { testSettings } from '../../helpers/settings.js';

const env = { HOME: '/home/ada' };
const KEY = 'storage.embedded.path';

describe('absoluteDir: a directory as a shell would read it', () => {
  it.each([
    ['~', '/home/ada'],
    ['~/pgdata', '/home/ada/pgdata'],
    ['~/a/../b/', '/home/ada/b'],
    ['/var/lib/llmspell', '/var/lib/llmspell'],
    ['/var/lib/../lib/llmspell/', '/var/lib/llmspell'],
    ['pgdata', resolve('pgdata')],
    ['./x/~/y', resolve('x/~/y')],
  ])('%j is %j', (path, expected) => {
    expect(absoluteDir(path, env, KEY)).toBe(expected);
  });

  it.each(['~bob/pgdata', '~bob', '~~/x'])('%j (another user’s home) is refused, naming the key', (path) => {
    let error: unknown;
    try {
      absoluteDir(path, env, KEY);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('CONFIG_INVALID');
    expect((error as ConfigError).message).toContain(KEY);
    expect((error as ConfigError).hint).toMatch(/absolute path/);
  });

  it('the embedded data directory is absolute whatever the setting holds', () => {
    const settings = testSettings({ backend: 'embedded', embeddedPath: '~/pgdata' });
    expect(embeddedDataDir(settings, env)).toBe('/home/ada/pgdata');
    expect(embeddedDataDir(testSettings({ backend: 'embedded' }), env)).toBe('/home/ada/.local/share/llmspell/pgdata');
  });
});
