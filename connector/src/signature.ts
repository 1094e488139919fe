import { createHmac, timingSafeEqual } from "node:crypto";

export const TOLERANCE_SECONDS = 5 * 60;

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== wanted) continue;
    // A header sent more than once is ambiguous: refuse it rather than pick one.
    if (Array.isArray(value)) return value.length === 1 ? value[0] : undefined;
    return value;
  }
  return undefined;
}

function equal(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The HMAC key of a `whsec_…` secret: the base64-decoded part after the prefix. */
export function secretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith("whsec_") ? secret.slice(6) : secret, "base64");
}

/**
 * Checks a Syncline delivery by its Standard Webhooks headers: `webhook-id`,
 * `webhook-timestamp` (Unix seconds, at most five minutes from now) and `webhook-signature`
 * (one or more space-separated `v1,<base64>`; a secret rotation sends two). Throws unless
 * all three are present, the timestamp is within the tolerance and one signature verifies
 * (compared in constant time).
 *
 * `X-Signature-256` alone is refused: it covers the body only, not a timestamp, so a
 * captured delivery stripped of the Standard Webhooks headers could be replayed forever.
 * Syncline sends the Standard Webhooks headers on every delivery.
 */
export function verifySignature(
  secret: string,
  headers: Record<string, string | string[] | undefined>,
  body: string | Buffer,
  now: number = Date.now(),
): void {
  const key = secretKey(secret);
  const raw = Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8");
  const id = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");
  if (!id || !timestamp || !signatures) {
    const missing = [
      ["webhook-id", id],
      ["webhook-timestamp", timestamp],
      ["webhook-signature", signatures],
    ]
      .filter(([, value]) => !value)
      .map(([name]) => name);
    throw new Error(
      `Webhook carries no Syncline signature: ${missing.join(", ")} missing (X-Signature-256 alone is not accepted).`,
    );
  }
  const seconds = Number(timestamp);
  if (!/^\d{1,15}$/.test(timestamp) || Math.abs(now / 1000 - seconds) > TOLERANCE_SECONDS) {
    throw new Error("Webhook timestamp is malformed or more than 5 minutes from now.");
  }
  const expected = createHmac("sha256", key)
    .update(Buffer.concat([Buffer.from(`${id}.${timestamp}.`), raw]))
    .digest();
  let verified = false;
  for (const part of signatures.split(" ")) {
    const comma = part.indexOf(",");
    if (comma < 0 || part.slice(0, comma) !== "v1") continue;
    const value = part.slice(comma + 1);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) continue;
    // Every candidate is compared, so the time taken does not depend on which one matches.
    if (equal(Buffer.from(value, "base64"), expected)) verified = true;
  }
  if (!verified) throw new Error("Webhook signature does not verify.");
}
