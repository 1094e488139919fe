/**
 * Starts a real Syncline (API and worker) for the connector tests, on a fresh database of
 * its own on DATABASE_URL's server when that is set, else on the embedded database in a
 * temporary data directory; provisions a tenant and hands its credentials to the tests.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { GlobalSetupContext } from "vitest/node";

const ROOT = resolve(__dirname, "..", "..");
const SYNCLINE = join(ROOT, ".venv", "bin", "syncline");
const PYTHON = join(ROOT, ".venv", "bin", "python");

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

/** Creates or drops a database on the server of `url`, through the project's psycopg. */
function adminDatabase(url: string, statement: string): void {
  const script = `
import sys, psycopg
from syncline.database import with_dbname
with psycopg.connect(with_dbname(sys.argv[1], "postgres"), autocommit=True) as c:
    c.execute(sys.argv[2])
`;
  const result = spawnSync(PYTHON, ["-c", script, url, statement], { cwd: ROOT, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${statement} failed: ${result.stderr}`);
}

function withDbname(url: string, name: string): string {
  const result = spawnSync(
    PYTHON,
    ["-c", "import sys; from syncline.database import with_dbname; print(with_dbname(sys.argv[1], sys.argv[2]))", url, name],
    { cwd: ROOT, encoding: "utf8" },
  );
  if (result.status !== 0) throw new Error(result.stderr);
  return result.stdout.trim();
}

async function waitReady(baseUrl: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`syncline serve exited: ${log()}`);
    try {
      const response = await fetch(`${baseUrl}/readyz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`syncline serve did not get ready: ${log()}`);
}

/** Lists are read models the worker's projections keep: wait until they follow writes. */
async function workerCaughtUp(baseUrl: string, key: string): Promise<void> {
  const headers = { Authorization: `Bearer ${key}`, "Content-Type": "application/json" };
  const probe = await fetch(`${baseUrl}/v1/contacts`, { method: "POST", headers, body: JSON.stringify({ email: "probe@example.com" }) });
  const { id } = (await probe.json()) as { id: string };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const page = (await (await fetch(`${baseUrl}/v1/contacts`, { headers })).json()) as { data: { id: string }[] };
    if (page.data.some((c) => c.id === id)) {
      await fetch(`${baseUrl}/v1/contacts/${id}`, { method: "DELETE", headers });
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("the worker's projections did not catch up within a minute");
}

export default async function setup({ provide }: GlobalSetupContext) {
  const adminToken = randomBytes(24).toString("hex");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SYNCLINE_ADMIN_TOKEN: adminToken,
    SYNCLINE_ALLOW_PRIVATE_WEBHOOKS: "1",
    SYNCLINE_SECRET_KEY: randomBytes(32).toString("base64"),
  };
  let dataDir: string | undefined;
  let database: string | undefined;
  const serverUrl = process.env.DATABASE_URL;
  if (serverUrl) {
    database = `connector_test_${randomBytes(6).toString("hex")}`;
    adminDatabase(serverUrl, `CREATE DATABASE ${database}`);
    env.DATABASE_URL = withDbname(serverUrl, database);
  } else {
    dataDir = mkdtempSync(join(tmpdir(), "syncline-connector-"));
    env.SYNCLINE_DATA_DIR = dataDir;
    delete env.DATABASE_URL;
  }
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  let output = "";
  const capture = (child: ChildProcess) => {
    child.stdout?.on("data", (d) => (output = (output + d).slice(-4000)));
    child.stderr?.on("data", (d) => (output = (output + d).slice(-4000)));
    return child;
  };
  const serve = capture(spawn(SYNCLINE, ["serve", "--host", "127.0.0.1", "--port", String(port)], { cwd: ROOT, env }));
  const children: ChildProcess[] = [serve];
  const stop = async () => {
    for (const child of children) {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 5_000)))]);
        clearTimeout(timer);
        if (child.exitCode === null) {
          child.kill("SIGKILL");
          await exited;
        }
      }
    }
    if (serverUrl && database) adminDatabase(serverUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitReady(baseUrl, serve, () => output);
    children.push(capture(spawn(SYNCLINE, ["worker"], { cwd: ROOT, env })));
    const response = await fetch(`${baseUrl}/admin/tenants`, {
      method: "POST",
      headers: { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" },
      body: JSON.stringify({ name: "Connector tests" }),
    });
    if (response.status !== 201) throw new Error(`POST /admin/tenants: ${response.status} ${await response.text()}`);
    const tenant = (await response.json()) as {
      api_key: { key: string };
      oauth_client: { client_id: string; client_secret: string };
    };
    await workerCaughtUp(baseUrl, tenant.api_key.key);
    provide("baseUrl", baseUrl);
    provide("apiKey", tenant.api_key.key);
    provide("clientId", tenant.oauth_client.client_id);
    provide("clientSecret", tenant.oauth_client.client_secret);
  } catch (error) {
    await stop();
    throw error;
  }
  return stop;
}

declare module "vitest" {
  export interface ProvidedContext {
    baseUrl: string;
    apiKey: string;
    clientId: string;
    clientSecret: string;
  }
}
