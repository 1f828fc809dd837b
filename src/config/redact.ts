/** The mask that replaces a secret in output. */
export const REDACTED = '***';

/**
 * Masks the password of a connection string, whether URL form
 * (`postgresql://user:pass@host/db?password=…`) or keyword form (`host=… password=…`).
 * Errs on the side of masking: a malformed URL with an `@` loses everything between `user:` and
 * the last `@`.
 */
export function redactConnectionString(text: string): string {
  let out = text;
  const scheme = out.indexOf('://');
  const at = out.lastIndexOf('@');
  if (scheme >= 0 && at > scheme) {
    const credentials = out.slice(scheme + 3, at);
    const colon = credentials.indexOf(':');
    if (colon >= 0) out = `${out.slice(0, scheme + 3)}${credentials.slice(0, colon)}:${REDACTED}${out.slice(at)}`;
  }
  // ?password=… in a URL query, password=… in a keyword/value string (quoted or not).
  return out.replace(/(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]+)/gi, `$1${REDACTED}`);
}

/** The passwords found in connection strings, so that error text can be scrubbed of them too. */
export function passwordsIn(connectionStrings: ReadonlyArray<string | undefined>): string[] {
  const found: string[] = [];
  for (const text of connectionStrings) {
    if (!text) continue;
    try {
      const url = new URL(text);
      if (url.password) found.push(url.password, decodeURIComponent(url.password));
      const query = url.searchParams.get('password');
      if (query) found.push(query);
    } catch {
      // Not a URL: keyword/value form.
    }
    for (const match of text.matchAll(/\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|[^&\s]+)/gi)) {
      found.push(match[1]!.replace(/^'|'$/g, ''));
    }
  }
  return [...new Set(found.filter((p) => p.length > 0))];
}

/** Replaces every occurrence of each secret in `text` with the mask. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join(REDACTED);
  return out;
}
