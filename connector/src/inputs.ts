import { input, util } from "@prismatic-io/spectral";

export const connectionInput = input({ label: "Connection", type: "connection", required: true });

export const idInput = input({ label: "Record ID", type: "string", required: true, clean: util.types.toString });

export const recordInput = input({
  label: "Record",
  type: "code",
  language: "json",
  required: true,
  comments: "The record's fields as a JSON object.",
  clean: (value: unknown) => (typeof value === "string" ? JSON.parse(value) : value) as Record<string, unknown>,
});

export const idempotencyKeyInput = input({
  label: "Idempotency key",
  type: "string",
  required: false,
  comments:
    "Retrying with the same key never creates a second record (at most 255 characters). Left empty, a key derived " +
    "from the execution id, the step and the inputs is sent: a retry of this step in the same execution reuses it, " +
    "another execution or other inputs get a new one. Give your own key (e.g. the source system's id) to stay " +
    "idempotent across executions, such as a re-run of the whole flow.",
  clean: util.types.toString,
});

export const versionInput = input({
  label: "Expected version",
  type: "string",
  required: false,
  comments: "Sent as If-Match: the update fails with 412 when the record has moved on since this version.",
  clean: util.types.toString,
});

export const updatedSinceInput = input({
  label: "Updated since",
  type: "string",
  required: false,
  comments: "ISO 8601 timestamp: only records updated at or after it.",
  clean: util.types.toString,
});

export const limitInput = input({
  label: "Page size",
  type: "string",
  required: false,
  comments: "Records per page (the server caps it).",
  clean: (value: unknown) => (value === undefined || value === null || value === "" ? undefined : util.types.toInt(value)),
});

export const cursorInput = input({
  label: "Cursor",
  type: "string",
  required: false,
  comments: "Where to resume: the next cursor of the previous call. Empty starts from the beginning; 'now' from the head.",
  clean: util.types.toString,
});

export const fetchAllInput = input({
  label: "Fetch all",
  type: "boolean",
  required: false,
  default: "false",
  comments: "Follow next_cursor through every page and return all records.",
  clean: util.types.toBool,
});

export const eventTypesInput = input({
  label: "Event types",
  type: "string",
  collection: "valuelist",
  required: true,
  dataSource: "eventTypes",
  comments: "Event types to receive, as listed by GET /v1/event-types (for example contact.created, order.*).",
  clean: (value: unknown) => (Array.isArray(value) ? value.map(String) : [String(value)]).filter(Boolean),
});
