import type { Connection } from "@prismatic-io/spectral";
import { ConnectionError } from "@prismatic-io/spectral";

/** Retries on 429 and 503, honouring Retry-After; bounded in count and in wait. */
const MAX_RETRIES = 4;
const MAX_WAIT_SECONDS = 30;

/**
 * Whether a request whose outcome is unknown may be sent again. A 429 is refused by the
 * rate limiter before the request is handled, so it is always retried. A 503 may come after
 * the write committed (a database session lost mid-commit), so only requests that repeat
 * harmlessly are retried on it: reads, and POSTs carrying an Idempotency-Key (the server
 * answers a repeat with the first response). Any other write (an order transition, an
 * update, a delete, a POST without a key) would come back as a spurious 409, 412 or 404,
 * or act twice, so its 503 is returned to the caller instead.
 */
export function retriesUnknownOutcome(method: string, headers: Record<string, string>): boolean {
  const verb = method.toUpperCase();
  if (verb === "GET" || verb === "HEAD" || verb === "OPTIONS") return true;
  const hasKey = Object.entries(headers).some(([name, value]) => name.toLowerCase() === "idempotency-key" && value !== "");
  return verb === "POST" && hasKey;
}

export interface RequestOptions {
  method?: string;
  path: string;
  query?: Record<string, string | number | boolean | undefined | null>;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Response<T = unknown> {
  status: number;
  headers: Record<string, string>;
  data: T;
}

export class SynclineError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly problem: unknown,
  ) {
    super(message);
    this.name = "SynclineError";
  }
}

export function baseUrlOf(connection: Connection): string {
  const base = String(connection.fields.baseUrl ?? "").trim();
  if (!base) throw new ConnectionError(connection, "The connection has no base URL.");
  return base.replace(/\/+$/, "");
}

function tokenOf(connection: Connection): string {
  const access = connection.token?.access_token;
  if (typeof access === "string" && access) return access;
  const key = connection.fields.apiKey;
  if (typeof key === "string" && key) return key;
  throw new ConnectionError(connection, "The connection has neither an API key nor an access token.");
}

function retryAfterSeconds(value: string | null): number {
  if (!value) return 1;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? 1 : Math.max(0, (date - Date.now()) / 1000);
}

export async function request<T = unknown>(connection: Connection, options: RequestOptions): Promise<Response<T>> {
  const url = new URL(baseUrlOf(connection) + options.path);
  for (const [name, value] of Object.entries(options.query ?? {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
  }
  const headers: Record<string, string> = {
    Authorization: `Bearer ${tokenOf(connection)}`,
    Accept: "application/json",
    ...options.headers,
  };
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  const method = (options.method ?? "GET").toUpperCase();
  const retry503 = retriesUnknownOutcome(method, headers);
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(url, { method, headers, body });
    if ((response.status === 429 || (response.status === 503 && retry503)) && attempt < MAX_RETRIES) {
      const wait = Math.min(retryAfterSeconds(response.headers.get("retry-after")), MAX_WAIT_SECONDS);
      await response.arrayBuffer();
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
      continue;
    }
    const text = await response.text();
    let data: unknown = text;
    if (text && (response.headers.get("content-type") ?? "").includes("json")) data = JSON.parse(text);
    if (!text) data = null;
    if (!response.ok) {
      const problem = data as { detail?: string; title?: string } | null;
      let message = String(
        (problem && typeof problem === "object" && (problem.detail || problem.title)) ||
          `Syncline answered HTTP ${response.status}`,
      );
      if (response.status === 503 && !retry503) {
        message += ` (${method} ${url.pathname} was not retried: it may have been applied; check before repeating it)`;
      }
      throw new SynclineError(message, response.status, data);
    }
    const responseHeaders: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      responseHeaders[name] = value;
    });
    return { status: response.status, headers: responseHeaders, data: data as T };
  }
}

export interface Page<T = unknown> {
  data: T[];
  next_cursor: string | null;
  has_more: boolean;
}

/** Follows next_cursor through every page of a list. */
export async function fetchAll<T = unknown>(
  connection: Connection,
  path: string,
  query: RequestOptions["query"],
): Promise<T[]> {
  const records: T[] = [];
  let cursor: string | null | undefined;
  do {
    const { data: page } = await request<Page<T>>(connection, { path, query: { ...query, cursor } });
    records.push(...page.data);
    cursor = page.has_more ? page.next_cursor : null;
  } while (cursor);
  return records;
}
