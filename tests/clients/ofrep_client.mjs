// Evaluates flags through the edge with the real OpenFeature Node SDK and OFREP provider.
// Usage: node ofrep_client.mjs BASE_URL API_KEY APPLICATION < cases.jsonl > results.jsonl
// Each input line: {"flag", "type" (boolean|string|integer|float|object), "default", "context"}.
// Each output line: {"value", "variant", "reason", "error_code"}.
import { OpenFeature } from "@openfeature/server-sdk";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import readline from "node:readline";

const [baseUrl, key, application] = process.argv.slice(2);
await OpenFeature.setProviderAndWait(
  new OFREPProvider({
    baseUrl,
    headers: [
      ["Authorization", `Bearer ${key}`],
      ["X-Vane-Application", application],
    ],
  }),
);
const client = OpenFeature.getClient();
const methods = {
  boolean: (...a) => client.getBooleanDetails(...a),
  string: (...a) => client.getStringDetails(...a),
  integer: (...a) => client.getNumberDetails(...a),
  float: (...a) => client.getNumberDetails(...a),
  object: (...a) => client.getObjectDetails(...a),
};
for await (const line of readline.createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const c = JSON.parse(line);
  const d = await methods[c.type](c.flag, c.default, c.context);
  process.stdout.write(
    JSON.stringify({ value: d.value, variant: d.variant ?? null, reason: d.reason ?? null, error_code: d.errorCode ?? null }) + "\n",
  );
}
await OpenFeature.close();
