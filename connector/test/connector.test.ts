import { createConnection, createHarness, invoke, invokeDataSource, invokeTrigger } from "@prismatic-io/spectral/dist/testing";
import type { ActionContext, Connection } from "@prismatic-io/spectral";
import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import actions from "../src/actions";
import { request, SynclineError } from "../src/client";
import { apiKeyConnection, clientCredentialsConnection } from "../src/connections";
import { eventTypes } from "../src/dataSources";
import component from "../src/index";
import { secretKey } from "../src/signature";
import triggers from "../src/triggers";

const baseUrl = inject("baseUrl");
const apiKey = createConnection(apiKeyConnection, { baseUrl, apiKey: inject("apiKey") });

type Rec = { id: string; version: number; [k: string]: unknown };
const run = async <T = Rec>(
  a: { perform: unknown },
  params: Record<string, unknown>,
  connection: Connection = apiKey,
  context?: Partial<ActionContext>,
): Promise<T> => {
  const { result } = await invoke(a as never, { connection, ...params } as never, context as never);
  return (result as { data: T }).data;
};

interface Captured {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A real HTTP receiver on 127.0.0.1 that keeps every request it gets. */
async function receiver(): Promise<{ url: string; server: Server; received: Captured[] }> {
  const received: Captured[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/hook`, server, received };
}

async function until<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function payloadOf(captured: Captured) {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(captured.headers)) if (typeof v === "string") headers[k] = v;
  return { headers, rawBody: { data: captured.body, contentType: "application/json" } };
}

const lifecycle = (t: unknown) => (t as { webhookLifecycleHandlers: { create: Function; delete: Function } }).webhookLifecycleHandlers;

describe("connections", () => {
  it("OAuth client credentials: a token from {baseUrl}/oauth/token authenticates the actions", async () => {
    const tokenUrl = `${baseUrl}/oauth/token`;
    const response = await fetch(tokenUrl, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: inject("clientId"), client_secret: inject("clientSecret") }),
    });
    expect(response.status).toBe(200);
    const token = (await response.json()) as { access_token: string };
    const oauth = createConnection(
      clientCredentialsConnection,
      { baseUrl, tokenUrl, clientId: inject("clientId"), clientSecret: inject("clientSecret"), scopes: "" },
      { access_token: token.access_token },
    );
    const page = await run<{ data: unknown[] }>(actions.listContacts, { fetchAll: false }, oauth);
    expect(Array.isArray(page.data)).toBe(true);
  });

  it("a wrong API key is an error carrying the problem's detail", async () => {
    const wrong = createConnection(apiKeyConnection, { baseUrl, apiKey: "sk_wrong" });
    const error = await run(actions.listContacts, {}, wrong).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SynclineError);
    expect((error as SynclineError).status).toBe(401);
    expect((error as SynclineError).message).toBe((error as { problem: { detail: string } }).problem.detail);
  });
});

describe("retries", () => {
  it("429 and 503 are retried after Retry-After, a bounded number of times", async () => {
    // A real HTTP server on 127.0.0.1 that answers with the statuses queued for it.
    const queue: number[] = [429, 503, 200];
    const times: number[] = [];
    const server = createServer((_req, res) => {
      times.push(Date.now());
      const status = queue.shift() ?? 429;
      if (status === 200) res.writeHead(200, { "Content-Type": "application/json" }).end('{"ok":true}');
      else
        res
          .writeHead(status, { "Retry-After": status === 429 ? "1" : "0", "Content-Type": "application/problem+json" })
          .end(JSON.stringify({ title: "Busy", status, detail: `busy (${status})` }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as { port: number };
    const local = createConnection(apiKeyConnection, { baseUrl: `http://127.0.0.1:${port}`, apiKey: "k" });
    try {
      const ok = await run<{ status: number; data: unknown }>(actions.rawRequest, { method: "GET", path: "/v1/x" }, local);
      expect(ok).toMatchObject({ status: 200, data: { ok: true } });
      expect(times).toHaveLength(3);
      expect(times[1] - times[0]).toBeGreaterThanOrEqual(950);

      times.length = 0;
      queue.push(503, 503, 503, 503, 503, 503);
      const error = await run(actions.rawRequest, { method: "GET", path: "/v1/x" }, local).catch((e) => e);
      expect(error).toBeInstanceOf(SynclineError);
      expect((error as SynclineError).message).toBe("busy (503)");
      expect(times).toHaveLength(5);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe("retries of writes", () => {
  /** A real HTTP server on 127.0.0.1 answering the statuses queued for it, keeping each request. */
  async function flaky(queue: number[]) {
    const seen: { method: string; url: string; key?: string }[] = [];
    const server = createServer((req, res) => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", key: req.headers["idempotency-key"] as string | undefined });
      req.resume();
      const status = queue.shift() ?? 200;
      if (status < 300) res.writeHead(status, { "Content-Type": "application/json" }).end('{"id":"o1","status":"paid","version":3}');
      else
        res
          .writeHead(status, { "Retry-After": "0", "Content-Type": "application/problem+json" })
          .end(JSON.stringify({ title: "Unavailable", status, detail: `unavailable (${status})` }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as { port: number };
    const connection = createConnection(apiKeyConnection, { baseUrl: `http://127.0.0.1:${port}`, apiKey: "k" });
    const close = () => {
      server.closeAllConnections();
      server.close();
    };
    return { seen, connection, close };
  }

  it("a transition answered 503 is not sent again (its outcome is unknown); 429 is retried", async () => {
    const server = await flaky([503, 200]);
    try {
      const error = await run(actions.payOrder, { id: "o1" }, server.connection).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SynclineError);
      expect((error as SynclineError).status).toBe(503);
      expect((error as SynclineError).message).toMatch(/^unavailable \(503\).*not retried/);
      expect(server.seen).toHaveLength(1);

      server.seen.length = 0;
      const rateLimited = await flaky([429, 200]);
      try {
        expect((await run(actions.payOrder, { id: "o1" }, rateLimited.connection)).status).toBe("paid");
        expect(rateLimited.seen.map((r) => r.url)).toEqual(["/v1/orders/o1/pay", "/v1/orders/o1/pay"]);
      } finally {
        rateLimited.close();
      }
    } finally {
      server.close();
    }
  });

  it("a create answered 503 is retried with the same Idempotency-Key", async () => {
    const server = await flaky([503, 201]);
    try {
      await run(actions.createOrder, { record: { currency: "EUR" } }, server.connection, { executionId: "e1", stepId: "s1" });
      expect(server.seen).toHaveLength(2);
      expect(server.seen[0].key).toBeTruthy();
      expect(server.seen[1].key).toBe(server.seen[0].key);
    } finally {
      server.close();
    }
  });
});

describe("actions", () => {
  it("contacts: create (idempotent), get, update with If-Match, list, fetch all, delete", async () => {
    const harness = createHarness(component);
    const email = `ada-${Date.now()}@example.com`;
    const created = (await harness.action("createContact", {
      connection: apiKey,
      record: JSON.stringify({ email, name: "Ada" }),
      idempotencyKey: `key-${email}`,
    })) as { data: Rec };
    const again = await run(actions.createContact, { record: { email, name: "Ada" }, idempotencyKey: `key-${email}` });
    expect(again.id).toBe(created.data.id);

    const got = await run(actions.getContact, { id: created.data.id });
    expect(got.email).toBe(email);

    const updated = await run(actions.updateContact, { id: got.id, record: { name: "Ada L." }, version: String(got.version) });
    expect(updated.name).toBe("Ada L.");
    const stale = await run(actions.updateContact, { id: got.id, record: { name: "X" }, version: String(got.version) }).catch((e) => e);
    expect((stale as SynclineError).status).toBe(412);
    expect((stale as SynclineError).message).toBe((stale as { problem: { detail: string } }).problem.detail);

    for (let i = 0; i < 4; i++) await run(actions.createContact, { record: { email: `bulk-${i}-${email}` } });
    // Lists are read models that follow writes within moments: wait for all five.
    const all = await until(async () => {
      const page = await run<{ data: Rec[] }>(actions.listContacts, { limit: 2, fetchAll: true });
      return page.data.filter((c) => String(c.email).endsWith(email)).length === 5 ? page : undefined;
    }, "five contacts fetched across pages");
    expect(new Set(all.data.map((c) => c.id)).size).toBe(all.data.length);
    const firstPage = await run<{ data: Rec[]; has_more: boolean; next_cursor: string }>(actions.listContacts, { limit: 2 });
    expect(firstPage.data).toHaveLength(2);
    expect(firstPage.has_more).toBe(true);
    const secondPage = await run<{ data: Rec[] }>(actions.listContacts, { limit: 2, cursor: firstPage.next_cursor });
    expect(secondPage.data[0].id).toBe(all.data[2].id);
    const future = await run<{ data: Rec[] }>(actions.listContacts, { updatedSince: "2999-01-01T00:00:00Z", fetchAll: true });
    expect(future.data).toHaveLength(0);

    await run(actions.deleteContact, { id: got.id });
    const gone = await run(actions.getContact, { id: got.id }).catch((e) => e);
    expect((gone as SynclineError).status).toBe(404);
  });

  it("orders: create, get, update, list, the four transitions, delete", async () => {
    const contact = await run(actions.createContact, { record: { email: `o-${Date.now()}@example.com` } });
    const record = { contact_id: contact.id, currency: "EUR", line_items: [{ sku: "A", description: "A", quantity: 2, unit_price: 150 }] };
    const order = await run(actions.createOrder, { record });
    expect(order.total).toBe(300);
    expect((await run(actions.getOrder, { id: order.id })).status).toBe("draft");
    const updated = await run(actions.updateOrder, { id: order.id, record: { currency: "USD" }, version: String(order.version) });
    expect(updated.currency).toBe("USD");
    expect((await run(actions.placeOrder, { id: order.id })).status).toBe("placed");
    expect((await run(actions.payOrder, { id: order.id })).status).toBe("paid");
    expect((await run(actions.fulfillOrder, { id: order.id })).status).toBe("fulfilled");
    const illegal = await run(actions.cancelOrder, { id: order.id }).catch((e) => e);
    expect((illegal as SynclineError).status).toBe(409);
    // The same inputs in another execution: another key, so another order.
    const other = await run(actions.createOrder, { record }, apiKey, { executionId: "another-execution" });
    expect(other.id).not.toBe(order.id);
    expect((await run(actions.cancelOrder, { id: other.id })).status).toBe("cancelled");
    // Lists are read models that follow writes within moments.
    await until(async () => {
      const listed = await run<{ data: Rec[] }>(actions.listOrders, { fetchAll: true });
      const ids = listed.data.map((o) => o.id);
      return ids.includes(order.id) && ids.includes(other.id) ? true : undefined;
    }, "both orders in the list");
    await run(actions.deleteOrder, { id: other.id });
    expect(((await run(actions.getOrder, { id: other.id }).catch((e) => e)) as SynclineError).status).toBe(404);
  });

  it("list changes resumes from its cursor; list events, event types and raw request", async () => {
    const head = await run<{ records: unknown[]; nextCursor: string }>(actions.listChanges, { cursor: "now" });
    const contact = await run(actions.createContact, { record: { email: `c-${Date.now()}@example.com` } });
    // The feed trails writes by a moment: follow it from the head until the contact shows.
    let cursor = head.nextCursor;
    const seen: Rec[] = [];
    await until(async () => {
      const page = await run<{ records: Rec[]; nextCursor: string }>(actions.listChanges, { cursor });
      seen.push(...page.records);
      cursor = page.nextCursor;
      return seen.some((r) => r.id === contact.id) ? true : undefined;
    }, "the contact in the changes feed");
    expect(seen.at(-1)?.id).toBe(contact.id);
    const none = await run<{ records: unknown[]; nextCursor: string }>(actions.listChanges, { cursor });
    expect(none.records).toHaveLength(0);
    expect(none.nextCursor).toBe(cursor);

    // The feed is written with the record; the event log trails it by a moment (the worker).
    type EventPage = { data: { entity: { id: string }; type: string }[] };
    const events = await until(async () => {
      const page = await run<EventPage>(actions.listEvents, { entityId: contact.id });
      return page.data.length > 0 ? page : undefined;
    }, "the contact's event in the event log");
    expect(events.data.map((e) => e.type)).toEqual(["contact.created"]);

    const picklist = (await invokeDataSource(eventTypes as never, { connection: apiKey } as never)) as { result: { key: string }[] };
    expect(picklist.result.map((t) => t.key)).toEqual(expect.arrayContaining(["contact.created", "order.paid"]));

    const raw = await run<{ status: number; data: Rec }>(actions.rawRequest, { method: "GET", path: `/v1/contacts/${contact.id}` });
    expect(raw.status).toBe(200);
    expect(raw.data.id).toBe(contact.id);
  });

  it("create without a key: a retry of the step creates nothing new; another execution or other inputs do", async () => {
    const email = `retry-${Date.now()}@example.com`;
    const step = { executionId: `exec-${email}`, stepId: "step-create" };
    const first = await run(actions.createContact, { record: { email, name: "R" } }, apiKey, step);
    // Prismatic retries the step: same execution, same step, same inputs (keys in another order).
    const harness = createHarness(component);
    const retried = (await harness.action("createContact", { connection: apiKey, record: JSON.stringify({ name: "R", email }) }, step)) as { data: Rec };
    expect(retried.data.id).toBe(first.id);

    const rerun = await run(actions.createContact, { record: { email, name: "R" } }, apiKey, { ...step, executionId: `other-${email}` });
    expect(rerun.id).not.toBe(first.id);
    const otherInputs = await run(actions.createContact, { record: { email: `b-${email}`, name: "R" } }, apiKey, step);
    expect(otherInputs.id).not.toBe(first.id);
  });

  it("list changes long-polls with wait: an empty page is held until a change arrives", async () => {
    const head = await run<{ nextCursor: string }>(actions.listChanges, { cursor: "now" });
    let started = Date.now();
    const empty = await run<{ records: unknown[] }>(actions.listChanges, { cursor: head.nextCursor, wait: "1.5" });
    expect(empty.records).toHaveLength(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);

    started = Date.now();
    const waiting = run<{ records: Rec[]; nextCursor: string }>(actions.listChanges, { cursor: head.nextCursor, wait: 20 });
    await new Promise((r) => setTimeout(r, 500));
    const contact = await run(actions.createContact, { record: { email: `lp-${Date.now()}@example.com` } });
    const woken = await waiting;
    expect(woken.records.map((r) => r.id)).toContain(contact.id);
    expect(Date.now() - started).toBeLessThan(15_000);

    const harness = createHarness(component);
    await expect(harness.action("listChanges", { connection: apiKey, cursor: head.nextCursor, wait: "31" })).rejects.toThrow(/0 to 30/);
    const after = await until(async () => {
      const page = await run<{ records: Rec[]; nextCursor: string }>(actions.listChanges, { cursor: woken.nextCursor });
      return page.records.length === 0 ? page : undefined;
    }, "the end of the feed");
    started = Date.now();
    const cleaned = (await harness.action("listChanges", { connection: apiKey, cursor: after.nextCursor, wait: "0" })) as { data: { records: unknown[] } };
    expect(cleaned.data.records).toHaveLength(0);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe("webhook trigger", () => {
  let hook: Awaited<ReturnType<typeof receiver>>;
  beforeAll(async () => {
    hook = await receiver();
  });
  afterAll(() => {
    hook.server.closeAllConnections();
    hook.server.close();
  });

  const context = (state: Record<string, unknown>) =>
    ({ flow: { id: "f1", name: "Sync" }, webhookUrls: { Sync: hook.url }, instanceState: state }) as unknown as ActionContext;

  it("create registers one subscription (reused on redeploy), perform verifies real deliveries, delete removes it", async () => {
    const handlers = lifecycle(triggers.recordEvents);
    const { instanceState } = await handlers.create(context({}), { connection: apiKey, eventTypes: ["contact.*"] });
    expect(instanceState.secret).toMatch(/^whsec_/);
    const listed = async () => (await request<{ data: { id: string; url: string; event_types: string[] }[] }>(apiKey, { path: "/v1/webhooks" })).data.data.filter((s) => s.url === hook.url);
    // The webhook list is a read model: wait for it to show the new subscription.
    const shown = await until(async () => ((await listed()).length ? await listed() : undefined), "the listed subscription");
    expect(shown.map((s) => s.id)).toEqual([instanceState.subscriptionId]);

    // State lost: the subscription is found by URL and its secret rotated, not a second one made.
    const lost = (await handlers.create(context({}), { connection: apiKey, eventTypes: ["contact.*"] })).instanceState;
    expect(lost.subscriptionId).toBe(instanceState.subscriptionId);
    expect(lost.secret).toMatch(/^whsec_/);
    expect(lost.secret).not.toBe(instanceState.secret);
    // Lost again at once: another rotation, not refused while an earlier grace would run.
    const lostAgain = (await handlers.create(context({}), { connection: apiKey, eventTypes: ["contact.*"] })).instanceState;
    expect(lostAgain.secret).not.toBe(lost.secret);
    Object.assign(lost, lostAgain);

    const redeployed = (await handlers.create(context(lost), { connection: apiKey, eventTypes: ["contact.*", "order.paid"] })).instanceState;
    expect(redeployed.subscriptionId).toBe(instanceState.subscriptionId);
    expect(redeployed.secret).toBe(lost.secret);
    expect(await listed()).toHaveLength(1);
    const current = await request<{ event_types: string[] }>(apiKey, { path: `/v1/webhooks/${redeployed.subscriptionId}` });
    expect(current.data.event_types).toEqual(expect.arrayContaining(["contact.*", "order.paid"]));

    const contact = await run(actions.createContact, { record: { email: `w-${Date.now()}@example.com` } });
    const delivery = await until(() => hook.received.find((r) => r.body.toString().includes(contact.id)), "a delivery");
    const payload = payloadOf(delivery);
    expect(payload.headers["webhook-signature"]).toMatch(/^v1,/);

    const accepted = await invokeTrigger(triggers.recordEvents as never, context(redeployed), payload as never);
    const event = (accepted.result as { payload: { body: { data: { type: string; entity: { id: string } } } } }).payload.body.data;
    expect(event.type).toBe("contact.created");
    expect(event.entity.id).toBe(contact.id);

    const reject = (p: unknown) => invokeTrigger(triggers.recordEvents as never, context(redeployed), p as never);
    // X-Signature-256 alone is refused: it covers no timestamp, so a captured delivery
    // stripped of the Standard Webhooks headers could otherwise be replayed forever.
    const { "webhook-signature": _s, "webhook-id": _i, "webhook-timestamp": _t, ...legacyHeaders } = payload.headers;
    expect(legacyHeaders["x-signature-256"]).toMatch(/^sha256=/);
    await expect(reject({ ...payload, headers: legacyHeaders })).rejects.toThrow(/no Syncline signature/);
    // So is a delivery missing any one of the three.
    for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"]) {
      const { [name]: _dropped, ...partial } = payload.headers;
      await expect(reject({ ...payload, headers: partial })).rejects.toThrow(new RegExp(`${name} missing`));
    }

    const doctored = Buffer.from(delivery.body.toString().replace(contact.id, "someone-else"));
    await expect(reject({ ...payload, rawBody: { data: doctored } })).rejects.toThrow(/signature/);
    await expect(reject({ ...payload, headers: { ...legacyHeaders, "x-signature-256": "sha256=" + "0".repeat(64) } })).rejects.toThrow(/signature/);
    await expect(reject({ ...payload, headers: {} })).rejects.toThrow(/no Syncline signature/);

    // Stale: correctly signed with the real secret, but six minutes old.
    const old = String(Math.floor(Date.now() / 1000) - 360);
    const id = payload.headers["webhook-id"];
    const sig = createHmac("sha256", secretKey(String(redeployed.secret))).update(`${id}.${old}.${delivery.body.toString()}`).digest("base64");
    await expect(reject({ ...payload, headers: { "webhook-id": id, "webhook-timestamp": old, "webhook-signature": `v1,${sig}` } })).rejects.toThrow(/5 minutes/);
    // The same signature scheme with the current time and several signatures passes.
    const now = String(Math.floor(Date.now() / 1000));
    const good = createHmac("sha256", secretKey(String(redeployed.secret))).update(`${id}.${now}.${delivery.body.toString()}`).digest("base64");
    await reject({ ...payload, headers: { "webhook-id": id, "webhook-timestamp": now, "webhook-signature": `v1,AAAA v1,${good}` } });

    await handlers.delete(context(redeployed), { connection: apiKey });
    await until(async () => ((await listed()).length === 0 ? true : undefined), "the subscription to leave the list");
    const fetched = await request(apiKey, { path: `/v1/webhooks/${redeployed.subscriptionId}` }).catch((e) => e);
    expect((fetched as SynclineError).status).toBe(404);
  });

  it("redeploying re-enables a subscription that was disabled", async () => {
    const url = `${hook.url}/revive`;
    const ctx = (state: Record<string, unknown>) =>
      ({ flow: { id: "f2", name: "Revive" }, webhookUrls: { Revive: url }, instanceState: state }) as unknown as ActionContext;
    const handlers = lifecycle(triggers.recordEvents);
    const { instanceState } = await handlers.create(ctx({}), { connection: apiKey, eventTypes: ["order.*"] });
    const path = `/v1/webhooks/${instanceState.subscriptionId}`;
    type Sub = { status: string; disabled_reason: string | null; event_types: string[] };
    await request(apiKey, { method: "PATCH", path, body: { status: "disabled" } });
    expect((await request<Sub>(apiKey, { path })).data).toMatchObject({ status: "disabled", disabled_reason: "manual" });

    const redeployed = (await handlers.create(ctx(instanceState), { connection: apiKey, eventTypes: ["order.paid"] })).instanceState;
    expect(redeployed.subscriptionId).toBe(instanceState.subscriptionId);
    expect((await request<Sub>(apiKey, { path })).data).toMatchObject({ status: "active", disabled_reason: null, event_types: ["order.paid"] });
    await handlers.delete(ctx(redeployed), { connection: apiKey });
  });

  it("convenience triggers subscribe to their one event type", async () => {
    const { instanceState } = await lifecycle(triggers.orderPaid).create(context({}), { connection: apiKey });
    const sub = await request<{ event_types: string[] }>(apiKey, { path: `/v1/webhooks/${instanceState.subscriptionId}` });
    expect(sub.data.event_types).toEqual(["order.paid"]);
    await lifecycle(triggers.orderPaid).delete(context(instanceState), { connection: apiKey });
    for (const t of [triggers.newContact, triggers.contactUpdated, triggers.newOrder]) expect(lifecycle(t).create).toBeTypeOf("function");
  });
});

describe("polling trigger", () => {
  it("a second run returns only what changed since the first", async () => {
    let state: Record<string, unknown> = {};
    const polling = { getState: () => state, setState: (s: Record<string, unknown>) => (state = s), invokeAction: async () => ({}) };
    const poll = async () => {
      const { result } = await invokeTrigger(triggers.pollChanges as never, { polling } as never, undefined, { connection: apiKey, resourceTypes: "contact" } as never);
      return (result as { payload: { body: { data: { records: Rec[] } } } }).payload.body.data.records;
    };
    const contact = await run(actions.createContact, { record: { email: `p-${Date.now()}@example.com` } });
    const deadline = Date.now() + 10_000;
    let first = await poll();
    while (!first.some((r) => r.id === contact.id) && Date.now() < deadline) first = first.concat(await poll());
    expect(first.map((r) => r.id)).toContain(contact.id);
    expect(typeof state.cursor).toBe("string");

    await run(actions.updateContact, { id: contact.id, record: { name: "Changed" } });
    let second: Rec[] = [];
    while (second.length === 0 && Date.now() < deadline + 10_000) second = await poll();
    expect(second.map((r) => r.id)).toEqual([contact.id]);
    expect(await poll()).toHaveLength(0);
  });

  it("starting from now: the first run returns nothing of the past, the next only what changed since", async () => {
    // Something already in the feed, which a start from the beginning would return.
    await run(actions.createContact, { record: { email: `past-${Date.now()}@example.com` } });
    let state: Record<string, unknown> = {};
    const polling = { getState: () => state, setState: (s: Record<string, unknown>) => (state = s), invokeAction: async () => ({}) };
    const poll = async () => {
      const { result } = await invokeTrigger(triggers.pollChanges as never, { polling } as never, undefined, { connection: apiKey, resourceTypes: "contact", startFrom: "now" } as never);
      return (result as { payload: { body: { data: { records: Rec[] } } } }).payload.body.data.records;
    };
    expect(await poll()).toHaveLength(0);
    expect(typeof state.cursor).toBe("string");

    const contact = await run(actions.createContact, { record: { email: `future-${Date.now()}@example.com` } });
    let next: Rec[] = [];
    const deadline = Date.now() + 10_000;
    while (next.length === 0 && Date.now() < deadline) next = await poll();
    expect(next.map((r) => r.id)).toEqual([contact.id]);
  });
});
