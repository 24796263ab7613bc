// An OpenFeature web provider on top of VaneClient: flags evaluated in the page, no request per
// flag. Vane's reasons, variants and error codes pass through; a new snapshot emits
// PROVIDER_CONFIGURATION_CHANGED; a context change re-targets every later evaluation at once.
//
//   import { OpenFeature } from "@openfeature/web-sdk";
//   import { VaneWebProvider } from "./provider.js";
//   await OpenFeature.setContext({ targetingKey: "user-1", country: "CA" });
//   await OpenFeature.setProviderAndWait(new VaneWebProvider({ edgeUrl, clientKey, application: "shop" }));
//   OpenFeature.getClient().getBooleanDetails("new-checkout", false);
import { OpenFeatureEventEmitter, ProviderEvents } from "@openfeature/web-sdk";
import { VaneClient } from "./vane.js";

export class VaneWebProvider {
  metadata = { name: "vane" };
  runsOn = "client";
  events = new OpenFeatureEventEmitter();

  /** @param {object} options VaneClient options, or `{ client }` with a VaneClient to use. */
  constructor(options) {
    this.client = options.client ?? new VaneClient(options);
    this.client.addEventListener("change", (e) => {
      if (e.detail.previous !== 0) {
        this.events.emit(ProviderEvents.ConfigurationChanged, {
          message: `snapshot version ${e.detail.version}`,
          metadata: { snapshotVersion: e.detail.version },
        });
      }
    });
  }

  async initialize(context) {
    const reuse = this.client.engine !== null;
    const started = reuse ? { ok: this.client.version > 0 } : await this.client.start(context ?? {});
    if (reuse) {
      if (context) this.client.setContext(context);
      this.client.resume(); // polling stopped by an earlier onClose()
    }
    if (!started.ok) {
      throw new Error(`no snapshot: ${started.error ?? this.client.lastError ?? "unknown"}`);
    }
  }

  async onContextChange(_oldContext, newContext) {
    const outcome = this.client.setContext(newContext ?? {});
    if (!outcome.ok) {
      // Never keep evaluating for the previous user: fall back to an empty context.
      this.client.setContext({});
      throw new Error(outcome.error);
    }
  }

  async onClose() {
    this.client.stop();
  }

  resolveBooleanEvaluation(flagKey, defaultValue) {
    return this.#resolve(flagKey, defaultValue, "boolean");
  }

  resolveStringEvaluation(flagKey, defaultValue) {
    return this.#resolve(flagKey, defaultValue, "string");
  }

  resolveNumberEvaluation(flagKey, defaultValue) {
    return this.#resolve(flagKey, defaultValue, "number");
  }

  resolveObjectEvaluation(flagKey, defaultValue) {
    return this.#resolve(flagKey, defaultValue, "object");
  }

  #resolve(flagKey, defaultValue, type) {
    const r = this.client.evaluate(flagKey);
    const flagMetadata = {};
    for (const [k, v] of Object.entries(r.metadata ?? {})) {
      if (["string", "number", "boolean"].includes(typeof v)) flagMetadata[k] = v;
    }
    if (r.errorCode) {
      return { value: defaultValue, reason: "ERROR", errorCode: r.errorCode, errorMessage: r.errorDetails, flagMetadata };
    }
    if (!("value" in r)) {
      // Disabled (or failed prerequisite) without an off variant: the caller's default.
      return { value: defaultValue, reason: r.reason, flagMetadata };
    }
    const actual = r.value === null ? "null" : Array.isArray(r.value) ? "object" : typeof r.value;
    if (actual !== type) {
      return {
        value: defaultValue,
        reason: "ERROR",
        errorCode: "TYPE_MISMATCH",
        errorMessage: `flag '${flagKey}' is ${actual}, not ${type}`,
        flagMetadata,
      };
    }
    return { value: r.value, variant: r.variant, reason: r.reason, flagMetadata };
  }
}
