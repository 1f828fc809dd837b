/**
 * UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. An event's id carries its
 * time, so that the same event appended again has the same key (`event_id`, `emitted_at`) and is
 * recognised, whichever process retries it.
 */
import { randomBytes } from 'node:crypto';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/** A new UUIDv7 of `ms` (default now), lower case. */
export function newUuidV7(ms = Date.now()): string {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(ms, 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70; // version 7
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // variant 10
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The milliseconds a UUIDv7 carries, or `undefined` for a UUID of another version. */
export function uuidV7Time(id: string): number | undefined {
  return V7.test(id) ? Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16) : undefined;
}
