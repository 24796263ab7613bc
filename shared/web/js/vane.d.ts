// Types of Vane's browser client (vane.js) and OpenFeature web provider (provider.js).

export interface EvaluationContext {
  targetingKey?: string;
  [attribute: string]: unknown;
}

/** One flag's evaluation, in OFREP's shape. The object itself, its object and array values and
 *  `metadata` are frozen: an answer is built once per snapshot and shared by every evaluation
 *  that gives it (copy before changing). */
export interface Evaluation {
  key: string;
  value?: unknown;
  variant?: string;
  reason: "STATIC" | "TARGETING_MATCH" | "SPLIT" | "DEFAULT" | "DISABLED" | "PREREQUISITE_FAILED" | "ERROR";
  errorCode?: "FLAG_NOT_FOUND" | "PARSE_ERROR" | "TYPE_MISMATCH" | "TARGETING_KEY_MISSING" | "INVALID_CONTEXT" | "GENERAL" | "PROVIDER_NOT_READY";
  errorDetails?: string;
  metadata: { snapshotVersion?: number; flagVersion?: number; ruleId?: string };
}

export interface VaneClientOptions {
  edgeUrl: string;
  clientKey: string;
  application?: string;
  environment?: string;
  /** ETag polling interval in ms; 0 = never refresh (no polling, no push). Default 1000. */
  pollMs?: number;
  /** Follow the edge's event stream when it has one (`vane edge`); else poll. Default true. */
  push?: boolean;
  /** An inline snapshot for server-rendered pages. */
  bootstrap?: string | object;
  /** Where the last snapshot is kept; default localStorage, null = nowhere. */
  storage?: Storage | null;
  fetch?: typeof fetch;
  now?: () => number;
  /** The wasm module or its bytes; default fetched next to vane_web.js. */
  wasm?: WebAssembly.Module | BufferSource;
}

export interface ChangeDetail {
  version: number;
  previous: number;
  source: "bootstrap" | "edge" | "storage";
}

export declare function loadWasm(module?: WebAssembly.Module | BufferSource): Promise<unknown>;

export declare class VaneClient extends EventTarget {
  constructor(options: VaneClientOptions);
  readonly version: number;
  readonly source: "none" | "bootstrap" | "edge" | "storage";
  readonly lastError: string | null;
  /** How the snapshot is kept fresh now. */
  readonly transport: "push" | "poll" | "none";
  start(context?: EvaluationContext): Promise<{ ok: true; version: number; source: string } | { ok: false; error: string | null }>;
  stop(): void;
  resume(): void;
  refresh(): Promise<boolean>;
  setContext(context: EvaluationContext): { ok: boolean; error?: string };
  evaluate(key: string): Evaluation;
  evaluateAll(): Evaluation[];
  config(key: string): unknown;
  addEventListener(type: "change", listener: (event: CustomEvent<ChangeDetail>) => void): void;
  addEventListener(type: "error", listener: (event: CustomEvent<{ message: string }>) => void): void;
}

export declare class VaneWebProvider {
  constructor(options: VaneClientOptions | { client: VaneClient });
  readonly metadata: { name: "vane" };
  readonly runsOn: "client";
  readonly client: VaneClient;
}
