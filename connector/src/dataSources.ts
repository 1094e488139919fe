import { dataSource } from "@prismatic-io/spectral";
import { request, type Page } from "./client";
import { connectionInput } from "./inputs";

export const eventTypes = dataSource({
  display: { label: "Event Types", description: "The event types a Syncline webhook can subscribe to." },
  dataSourceType: "picklist",
  inputs: { connection: connectionInput },
  perform: async (_context, { connection }) => {
    const { data } = await request<Page<{ name: string; description?: string }>>(connection, { path: "/v1/event-types" });
    return { result: data.data.map((t) => ({ label: t.description ? `${t.name}: ${t.description}` : t.name, key: t.name })) };
  },
});

export default { eventTypes };
