import { action, input, util } from "@prismatic-io/spectral";
import { randomUUID } from "node:crypto";
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

type Resource = { path: "contacts" | "orders"; one: string; One: string; many: string };
const contacts: Resource = { path: "contacts", one: "contact", One: "Contact", many: "contacts" };
const orders: Resource = { path: "orders", one: "order", One: "Order", many: "orders" };

function crud(r: Resource) {
  const create = action({
    display: { label: `Create ${r.One}`, description: `Create a ${r.one} in Syncline (safe to retry: sends an Idempotency-Key).` },
    inputs: { connection: connectionInput, record: recordInput, idempotencyKey: idempotencyKeyInput },
    perform: async (_context, { connection, record, idempotencyKey }) => {
      const { data } = await request(connection, {
        method: "POST",
        path: `/v1/${r.path}`,
        body: record,
        headers: { "Idempotency-Key": idempotencyKey || randomUUID() },
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
    display: { label, description },
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
    description: "Read the changes feed from a cursor: the changed records and the cursor to resume from (incremental sync).",
  },
  inputs: {
    connection: connectionInput,
    cursor: cursorInput,
    limit: limitInput,
    resourceTypes: input({ label: "Resource types", type: "string", required: false, comments: "Comma-separated: contact, order.", clean: util.types.toString }),
  },
  perform: async (_context, { connection, cursor, limit, resourceTypes }) => {
    const { data } = await request<Page>(connection, {
      path: "/v1/changes",
      query: { cursor, limit, resource_types: resourceTypes },
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
