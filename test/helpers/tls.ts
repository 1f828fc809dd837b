/**
 * Test certificates made with `openssl` (EC P-256, fast to generate), and the server settings
 * that turn TLS on for a test server from `startPostgresServer({ settings })`.
 *
 * As root the server runs as the `postgres` OS user: its key files are chowned to that user with
 * mode 0600 (PostgreSQL refuses a key others can read) in a 0755 directory it can enter.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A certificate and its (unencrypted) key. */
export interface CertificatePair {
  cert: string;
  key: string;
}

/** The files made by {@link createTestCertificates}, all PEM. */
export interface TestCertificates {
  /** The directory holding them; remove it with {@link TestCertificates.remove}. */
  dir: string;
  /** The test CA: the right `sslrootcert` for {@link signed}, {@link expired} and {@link client}. */
  ca: string;
  /** Another CA, which signed none of the others: a wrong `sslrootcert`. */
  otherCa: string;
  /** A self-signed server certificate for CN and SAN `localhost` (its own right `sslrootcert`). */
  selfSigned: CertificatePair;
  /** A server certificate for CN and SAN `localhost`, signed by {@link ca}. */
  signed: CertificatePair;
  /** A server certificate for `localhost` signed by {@link ca} that has expired. */
  expired: CertificatePair;
  /** A client certificate for CN `certuser`, signed by {@link ca}. */
  client: CertificatePair & {
    /** The same key encrypted (AES-256) with {@link passphrase}. */
    encryptedKey: string;
    passphrase: string;
  };
  /** The server key files, owned by the server's OS user (`postgres` as root). */
  serverKeys: string[];
  remove(): Promise<void>;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function openssl(args: string[], cwd: string): Promise<void> {
  await run('openssl', args, { cwd });
}

/** A CA certificate and key, self-signed, valid ten years. */
async function makeCa(dir: string, name: string, cn: string): Promise<void> {
  await openssl(
    [
      'req',
      '-x509',
      ...EC,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '3650',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
}

/** A certificate for `cn` signed by the CA `ca`; `days` -1 makes one that has already expired. */
async function makeSigned(dir: string, name: string, cn: string, ca: string, extensions: string, days = 3650) {
  await openssl(['req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
  await writeFile(path.join(dir, `${name}.ext`), `${extensions}\n`);
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      // A serial of its own: -CAcreateserial shares ca.srl, and certificates signed at once read it
      // half-written ("Unable to load number from ca.srl", seen in a clean-clone run).
      '-set_serial',
      `0x${randomBytes(8).toString('hex')}`,
      '-out',
      `${name}.crt`,
      '-days',
      String(days),
      '-extfile',
      `${name}.ext`,
    ],
    dir,
  );
}

/** The uid and gid the test servers run as: `postgres` as root (when that user exists yet), else this process's. */
async function serverIds(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    return undefined;
  }
}

/**
 * Makes the certificates of {@link TestCertificates} in a new temp dir. Call after a test server
 * has started at least once when running as root (it creates the `postgres` OS user).
 */
export async function createTestCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'llmspell-test-tls-'));
  await chmod(dir, 0o755);
  const server = 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth';
  await Promise.all([makeCa(dir, 'ca', 'llmspell test CA'), makeCa(dir, 'other-ca', 'llmspell other CA')]);
  await Promise.all([
    openssl(
      [
        'req',
        '-x509',
        ...EC,
        '-keyout',
        'self.key',
        '-out',
        'self.crt',
        '-days',
        '3650',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost',
      ],
      dir,
    ),
    makeSigned(dir, 'server', 'localhost', 'ca', server),
    makeSigned(dir, 'expired', 'localhost', 'ca', server, -1),
    makeSigned(dir, 'client', 'certuser', 'ca', 'extendedKeyUsage=clientAuth'),
  ]);
  const passphrase = 'test-passphrase';
  await openssl(
    ['pkey', '-in', 'client.key', '-aes256', '-passout', `pass:${passphrase}`, '-out', 'client-encrypted.key'],
    dir,
  );
  const file = (name: string) => path.join(dir, name);
  const serverKeys = ['self.key', 'server.key', 'expired.key'].map(file);
  const ids = await serverIds();
  for (const name of await readdir(dir)) {
    await chmod(file(name), name.endsWith('.key') ? 0o600 : 0o644);
  }
  if (ids) for (const key of serverKeys) await chown(key, ids.uid, ids.gid);
  return {
    dir,
    ca: file('ca.crt'),
    otherCa: file('other-ca.crt'),
    selfSigned: { cert: file('self.crt'), key: file('self.key') },
    signed: { cert: file('server.crt'), key: file('server.key') },
    expired: { cert: file('expired.crt'), key: file('expired.key') },
    client: {
      cert: file('client.crt'),
      key: file('client.key'),
      encryptedKey: file('client-encrypted.key'),
      passphrase,
    },
    serverKeys,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * Settings for `startPostgresServer({ settings })` that turn TLS on with `pair`; with `caFile`
 * the server asks clients for certificates signed by it (`ssl_ca_file`), and `hbaFile` replaces
 * pg_hba.conf (for `hostssl` / `hostnossl` / `cert` lines).
 */
export function tlsServerSettings(
  pair: CertificatePair,
  options: { caFile?: string; hbaFile?: string } = {},
): Record<string, string> {
  return {
    ssl: 'on',
    ssl_cert_file: pair.cert,
    ssl_key_file: pair.key,
    ...(options.caFile ? { ssl_ca_file: options.caFile } : {}),
    ...(options.hbaFile ? { hba_file: options.hbaFile } : {}),
  };
}

/** Writes a pg_hba.conf of `lines` into `dir`, readable by the server, and returns its path. */
export async function writeHbaFile(dir: string, name: string, lines: readonly string[]): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, `${lines.join('\n')}\n`, { mode: 0o644 });
  return file;
}
