import { action, input, util, type ActionContext } from "@prismatic-io/spectral";
import { createHash, randomUUID } from "node:crypto";
import { fetchAll, request, type Page } from "./client";
import {
  connectionInput,
  cursorInput,
  fetchAllInput,
  idInput,
  idempotencyKeyInput,
  limitInput,
  recordInput,
  updatedSinceInput,
  versionInput,
} from "./inputs";

/** JSON with object keys sorted at every level, so equal inputs serialize equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item === undefined ? null : item)).join(",")}]`;
  if (value && typeof value === "object" && !(value instanceof Date)) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * The Idempotency-Key a create sends when none is given: a SHA-256 of the execution id, the
 * step id, the loop position (when the step runs in a loop), the resource and the canonical
 * JSON of the record. A retry of the same step in the same execution with the same inputs
 * sends the same key, so Syncline answers the record it already created; another execution,
 * step, loop iteration or record gets another key. Without an execution id (outside a flow
 * run) there is nothing stable to derive it from, and a random key is sent.
 */
export function defaultIdempotencyKey(context: Partial<ActionContext>, resource: string, record: unknown): string {
  const executionId = context.executionId;
  if (typeof executionId !== "string" || !executionId) return randomUUID();
  const frame = context.executionFrame as { loopPath?: unknown } | undefined;
  const loopPath = frame && typeof frame.loopPath === "string" ? frame.loopPath : "";
  const digest = createHash("sha256")
    .update(canonicalJson(["syncline-create/1", executionId, context.stepId ?? "", loopPath, resource, record]))
    .digest("hex");
  return `prismatic-${digest}`;
}

type Resource = { path: "contacts" | "orders"; one: string; One: string; many: string };
const contacts: Resource = { path: "contacts", one: "contact", One: "Contact", many: "contacts" };
const orders: Resource = { path: "orders", one: "order", One: "Order", many: "orders" };

function crud(r: Resource) {
  const create = action({
    display: {
      label: `Create ${r.One}`,
      description:
        `Create a ${r.one} in Syncline. Safe to retry: it sends an Idempotency-Key, the one given or else one derived ` +
        `from the execution, the step and the inputs, so a step retry returns the ${r.one} already created ` +
        `instead of a duplicate.`,
    },
    inputs: { connection: connectionInput, record: recordInput, idempotencyKey: idempotencyKeyInput },
    perform: async (context, { connection, record, idempotencyKey }) => {
      const { data } = await request(connection, {
        method: "POST",
        path: `/v1/${r.path}`,
        body: record,
        headers: { "Idempotency-Key": idempotencyKey || defaultIdempotencyKey(context, r.path, record) },
      });
      return { data };
    },
  });
  const get = action({
    display: { label: `Get ${r.One}`, description: `Fetch one ${r.one} by its ID.` },
    inputs: { connection: connectionInput, id: idInput },
    perform: async (_context, { connection, id }) => {
      const { data } = await request(connection, { path: `/v1/${r.path}/${encodeURIComponent(id)}` });
      return { data };
    },
  });
  const update = action({
    display: { label: `Update ${r.One}`, description: `Change fields of a ${r.one}, optionally only if it is still at a given version.` },
    inputs: { connection: connectionInput, id: idInput, record: recordInput, version: versionInput },
    perform: async (_context, { connection, id, record, version }) => {
      const { data } = await request(connection, {
        method: "PATCH",
        path: `/v1/${r.path}/${encodeURIComponent(id)}`,
        body: record,
        headers: version ? { "If-Match": `"${version.replace(/"/g, "")}"` } : {},
      });
      return { data };
    },
  });
  const remove = action({
    display: { label: `Delete ${r.One}`, description: `Delete a ${r.one}.` },
    inputs: { connection: connectionInput, id: idInput },
    perform: async (_context, { connection, id }) => {
      const { data } = await request(connection, { method: "DELETE", path: `/v1/${r.path}/${encodeURIComponent(id)}` });
      return { data };
    },
  });
  const list = action({
    display: { label: `List ${r.One}s`, description: `List ${r.many}, optionally only those updated since a time; one page or all of them.` },
    inputs: {
      connection: connectionInput,
      updatedSince: updatedSinceInput,
      limit: limitInput,
      cursor: cursorInput,
      fetchAll: fetchAllInput,
    },
    perform: async (_context, { connection, updatedSince, limit, cursor, fetchAll: all }) => {
      const query = { updated_since: updatedSince, limit };
      if (all) return { data: { data: await fetchAll(connection, `/v1/${r.path}`, query), next_cursor: null, has_more: false } };
      const { data } = await request<Page>(connection, { path: `/v1/${r.path}`, query: { ...query, cursor } });
      return { data };
    },
  });
  return { create, get, update, remove, list };
}

const c = crud(contacts);
const o = crud(orders);

function transition(verb: "place" | "pay" | "fulfill" | "cancel", label: string, description: string) {
  return action({
    display: {
      label,
      description:
        `${description} Not repeated after a 503, whose outcome is unknown: ` +
        "check the order before running it again.",
    },
    inputs: { connection: connectionInput, id: idInput },
    perform: async (_context, { connection, id }) => {
      const { data } = await request(connection, { method: "POST", path: `/v1/orders/${encodeURIComponent(id)}/${verb}` });
      return { data };
    },
  });
}

export const listChanges = action({
  display: {
    label: "List Changes",
    description:
      "Read the changes feed from a cursor: the changed records and the cursor to resume from (incremental sync). " +
      "With Wait, an empty answer is held until a change arrives (long-poll).",
  },
  inputs: {
    connection: connectionInput,
    cursor: cursorInput,
    limit: limitInput,
    resourceTypes: input({ label: "Resource types", type: "string", required: false, comments: "Comma-separated: contact, order.", clean: util.types.toString }),
    wait: input({
      label: "Wait (seconds)",
      type: "string",
      required: false,
      comments: "Long-poll: when nothing has changed since the cursor, hold the call up to this many seconds (0 to 30) until a change arrives. Empty or 0 answers at once.",
      clean: (value: unknown) => {
        if (value === undefined || value === null || value === "") return undefined;
        const seconds = Number(value);
        if (!Number.isFinite(seconds) || seconds < 0 || seconds > 30) throw new Error("Wait must be a number of seconds from 0 to 30.");
        return seconds;
      },
    }),
  },
  perform: async (_context, { connection, cursor, limit, resourceTypes, wait }) => {
    const { data } = await request<Page>(connection, {
      path: "/v1/changes",
      query: { cursor, limit, resource_types: resourceTypes, wait },
    });
    return { data: { records: data.data, nextCursor: data.next_cursor, hasMore: data.has_more } };
  },
});

export const listEvents = action({
  display: { label: "List Events", description: "Read the immutable event log, optionally filtered by type, record and time." },
  inputs: {
    connection: connectionInput,
    after: input({ label: "After", type: "string", required: false, comments: "Cursor of the last event already read.", clean: util.types.toString }),
    types: input({ label: "Types", type: "string", required: false, comments: "Comma-separated, wildcards allowed: order.*", clean: util.types.toString }),
    entityId: input({ label: "Record ID", type: "string", required: false, clean: util.types.toString }),
    limit: limitInput,
  },
  perform: async (_context, { connection, after, types, entityId, limit }) => {
    const { data } = await request<Page>(connection, {
      path: "/v1/events",
      query: { after, types, entity_id: entityId, limit },
    });
    return { data };
  },
});

export const rawRequest = action({
  display: { label: "Raw Request", description: "Send any request to the Syncline API with the connection's credentials." },
  inputs: {
    connection: connectionInput,
    method: input({ label: "Method", type: "string", required: true, default: "GET", model: ["GET", "POST", "PATCH", "PUT", "DELETE"].map((m) => ({ label: m, value: m })), clean: util.types.toString }),
    path: input({ label: "Path", type: "string", required: true, example: "/v1/contacts", comments: "Path after the base URL, starting with /.", clean: util.types.toString }),
    body: input({ label: "Body", type: "code", language: "json", required: false, clean: (v: unknown) => (v === undefined || v === null || v === "" ? undefined : typeof v === "string" ? JSON.parse(v) : v) }),
    headers: input({ label: "Headers", type: "string", collection: "keyvaluelist", required: false, clean: (v: unknown) => util.types.keyValPairListToObject<string>(v as never) }),
  },
  perform: async (_context, { connection, method, path, body, headers }) => {
    const response = await request(connection, { method, path: path.startsWith("/") ? path : `/${path}`, body, headers });
    return { data: response };
  },
});

export default {
  createContact: c.create,
  getContact: c.get,
  updateContact: c.update,
  deleteContact: c.remove,
  listContacts: c.list,
  createOrder: o.create,
  getOrder: o.get,
  updateOrder: o.update,
  deleteOrder: o.remove,
  listOrders: o.list,
  placeOrder: transition("place", "Place Order", "Move a draft order to placed."),
  payOrder: transition("pay", "Pay Order", "Mark a placed order as paid."),
  fulfillOrder: transition("fulfill", "Fulfill Order", "Mark a paid order as fulfilled."),
  cancelOrder: transition("cancel", "Cancel Order", "Cancel an order that is not yet final."),
  listChanges,
  listEvents,
  rawRequest,
};
