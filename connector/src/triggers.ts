import { pollingTrigger, trigger, util, type Connection, type TriggerPayload } from "@prismatic-io/spectral";
import { request, SynclineError, type Page } from "./client";
import { connectionInput, eventTypesInput, limitInput } from "./inputs";
import { verifySignature } from "./signature";

interface Subscription {
  id: string;
  url: string;
  event_types: string[];
  secret?: string;
}

function bodyText(payload: TriggerPayload): string | Buffer {
  const data = payload.rawBody.data;
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === "string") return data;
  if (data instanceof Uint8Array) return Buffer.from(data);
  throw new Error("The webhook request has no raw body to verify.");
}

async function findByUrl(connection: Connection, url: string): Promise<Subscription | undefined> {
  let cursor: string | null = null;
  do {
    const { data: page }: { data: Page<Subscription> } = await request<Page<Subscription>>(connection, {
      path: "/v1/webhooks",
      query: { cursor },
    });
    const found = page.data.find((s) => s.url === url);
    if (found) return found;
    cursor = page.has_more ? page.next_cursor : null;
  } while (cursor);
  return undefined;
}

/**
 * Registers (or reuses) the Syncline subscription for this flow's webhook URL. A reused
 * subscription is pointed at the requested event types and re-enabled if it was disabled;
 * its secret comes from the instance state, or from a rotation when the state does not
 * have it.
 */
async function subscribe(connection: Connection, url: string, eventTypes: string[], state: Record<string, unknown>) {
  let existing: Subscription | undefined;
  if (typeof state.subscriptionId === "string") {
    try {
      const { data } = await request<Subscription>(connection, { path: `/v1/webhooks/${encodeURIComponent(state.subscriptionId)}` });
      if (data.url === url) existing = data;
    } catch (error) {
      if (!(error instanceof SynclineError && error.status === 404)) throw error;
    }
  }
  existing ??= await findByUrl(connection, url);
  if (!existing) {
    const { data } = await request<Subscription>(connection, {
      method: "POST",
      path: "/v1/webhooks",
      body: { url, event_types: eventTypes, description: "Prismatic flow" },
    });
    return { subscriptionId: data.id, secret: data.secret, url };
  }
  // Also re-enable it: a webhook disabled since the last deploy (by hand, by a 410 from the
  // flow's URL, or after 5 days of failures) would otherwise stay silent after a redeploy.
  await request(connection, {
    method: "PATCH",
    path: `/v1/webhooks/${existing.id}`,
    body: { event_types: eventTypes, status: "active" },
  });
  if (state.subscriptionId === existing.id && typeof state.secret === "string") {
    return { subscriptionId: existing.id, secret: state.secret, url };
  }
  // The instance lost the secret, so the old one is of no use to it: no grace period (which
  // also makes the rotation allowed while an earlier rotation's grace still runs).
  const { data } = await request<Subscription>(connection, {
    method: "POST",
    path: `/v1/webhooks/${existing.id}/rotate-secret`,
    body: { grace_period_seconds: 0 },
  });
  return { subscriptionId: existing.id, secret: data.secret, url };
}

function webhookTrigger(label: string, description: string, fixedTypes?: string[]) {
  const inputs: { connection: typeof connectionInput; eventTypes?: typeof eventTypesInput } = fixedTypes
    ? { connection: connectionInput }
    : { connection: connectionInput, eventTypes: eventTypesInput };
  return trigger({
    display: { label, description },
    inputs,
    scheduleSupport: "invalid",
    synchronousResponseSupport: "invalid",
    webhookLifecycleHandlers: {
      create: async (context, params) => {
        const url = context.webhookUrls[context.flow.name];
        if (!url) throw new Error(`No webhook URL for flow ${context.flow.name}.`);
        const types = fixedTypes ?? (params as { eventTypes: string[] }).eventTypes;
        const sub = await subscribe(params.connection as Connection, url, types, context.instanceState);
        return { instanceState: { ...context.instanceState, ...sub } };
      },
      delete: async (context, params) => {
        const id = context.instanceState.subscriptionId;
        if (typeof id === "string") {
          try {
            await request(params.connection as Connection, { method: "DELETE", path: `/v1/webhooks/${encodeURIComponent(id)}` });
          } catch (error) {
            if (!(error instanceof SynclineError && error.status === 404)) throw error;
          }
        }
        return { instanceState: { ...context.instanceState, subscriptionId: undefined, secret: undefined } };
      },
    },
    perform: async (context, payload) => {
      const secret = context.instanceState.secret;
      if (typeof secret !== "string") throw new Error("No webhook secret in the instance state: deploy the instance again.");
      verifySignature(secret, payload.headers, bodyText(payload));
      const event: unknown = JSON.parse(bodyText(payload).toString());
      return { payload: { ...payload, body: { data: event, contentType: "application/json" } } };
    },
  });
}

export const recordEvents = webhookTrigger("Record Events",
  "Runs the flow on Syncline events of the chosen types, delivered by a webhook subscription that deploying the instance creates and deleting it removes. Every delivery's signature is verified.",
);
export const newContact = webhookTrigger("New Contact", "Runs the flow when a contact is created in Syncline.", ["contact.created"]);
export const contactUpdated = webhookTrigger("Contact Updated", "Runs the flow when a contact is updated in Syncline.", ["contact.updated"]);
export const newOrder = webhookTrigger("New Order", "Runs the flow when an order is created in Syncline.", ["order.created"]);
export const orderPaid = webhookTrigger("Order Paid", "Runs the flow when an order is paid in Syncline.", ["order.paid"]);

export const pollChanges = pollingTrigger({
  display: {
    label: "Poll Changes",
    description: "On a schedule, reads Syncline's changes feed from where the last run stopped. Use it where webhooks cannot reach the flow.",
  },
  inputs: {
    connection: connectionInput,
    resourceTypes: { label: "Resource types", type: "string", required: false, comments: "Comma-separated: contact, order. Empty means all.", clean: util.types.toString },
    limit: limitInput,
    startFrom: {
      label: "Start from",
      type: "string",
      required: false,
      default: "beginning",
      model: [
        { label: "The beginning (initial sync: every record once)", value: "beginning" },
        { label: "Now (only changes made after the first run)", value: "now" },
      ],
      comments: "Where the first run starts; later runs continue from the cursor kept in the trigger's state.",
      clean: (value: unknown) => (value === "now" ? "now" : "beginning"),
    },
  },
  perform: async (context, payload, { connection, resourceTypes, limit, startFrom }) => {
    const state = context.polling.getState();
    let cursor = typeof state.cursor === "string" ? state.cursor : undefined;
    if (cursor === undefined && startFrom === "now") {
      const { data } = await request<{ cursor: string }>(connection, { path: "/v1/changes/head" });
      cursor = data.cursor;
    }
    const records: unknown[] = [];
    for (let page = 0; page < 100; page++) {
      const { data } = await request<Page>(connection, {
        path: "/v1/changes",
        query: { cursor, limit, resource_types: resourceTypes },
      });
      records.push(...data.data);
      if (data.next_cursor) cursor = data.next_cursor;
      if (!data.has_more) break;
    }
    context.polling.setState({ cursor });
    return {
      payload: { ...payload, body: { data: { records, cursor }, contentType: "application/json" } },
      polledNoChanges: records.length === 0,
    } as never;
  },
});

export default { recordEvents, newContact, contactUpdated, newOrder, orderPaid, pollChanges };
