import { createHmac, timingSafeEqual } from "node:crypto";

export const TOLERANCE_SECONDS = 5 * 60;

function header(headers: Record<string, string | undefined>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === wanted) return value;
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
 * Checks a Syncline delivery: Standard Webhooks headers (webhook-id, webhook-timestamp,
 * webhook-signature with one or more space-separated `v1,<base64>`), or else
 * `X-Signature-256: sha256=<hex>`. Throws unless a signature verifies; a Standard Webhooks
 * timestamp more than five minutes from now is rejected.
 */
export function verifySignature(
  secret: string,
  headers: Record<string, string | undefined>,
  body: string | Buffer,
  now: number = Date.now(),
): void {
  const key = secretKey(secret);
  const raw = Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8");
  const id = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");
  if (id && timestamp && signatures) {
    const seconds = Number(timestamp);
    if (!/^\d+$/.test(timestamp) || Math.abs(now / 1000 - seconds) > TOLERANCE_SECONDS) {
      throw new Error("Webhook timestamp is missing or more than 5 minutes old.");
    }
    const expected = createHmac("sha256", key)
      .update(Buffer.concat([Buffer.from(`${id}.${timestamp}.`), raw]))
      .digest();
    for (const part of signatures.split(" ")) {
      const [version, value] = part.split(",", 2);
      if (version === "v1" && value && equal(Buffer.from(value, "base64"), expected)) return;
    }
    throw new Error("Webhook signature does not verify.");
  }
  const legacy = header(headers, "x-signature-256");
  if (legacy && legacy.startsWith("sha256=")) {
    const expected = createHmac("sha256", key).update(raw).digest();
    const given = legacy.slice(7);
    if (/^[0-9a-f]+$/i.test(given) && equal(Buffer.from(given, "hex"), expected)) return;
    throw new Error("Webhook signature does not verify.");
  }
  throw new Error("Webhook carries no Syncline signature.");
}
