// Type declarations for herald.js (see README.md).

/** The shared stream's state, for a page's "live" badge. */
export type Status = 'connecting' | 'live' | 'reconnecting' | 'ended'

/** How the tabs of an origin share the stream. */
export type ShareMode = 'worker' | 'locks' | 'tab'

export interface HeraldOptions {
  /** The stream endpoint; default '/v1/events', resolved against the page's URL. */
  url?: string
  /**
   * Returns the subscriber token (a JWT), or null for none (cookie or anonymous). Called before
   * the first connect, again before the token's exp (read without verifying), and once more
   * after a 401/403 answer.
   */
  token?: () => Promise<string | null> | string | null
  /** 'auto' (default) picks 'worker', else 'locks', else 'tab'. */
  share?: 'auto' | ShareMode
  /** The URL of herald.js for the SharedWorker; default this module's own URL. */
  workerURL?: string | URL
}

/** One event of a topic. */
export interface HeraldEvent<T = unknown> {
  /** The topic the event was published on. */
  topic: string
  /** The event name; 'message' for events published without one. */
  event: string
  /** The data as text (a JSON value, or the text a string was published as). */
  data: string
  /** The event's position in its topic ("epoch-seq"). */
  id: string
  /** The shared stream's cursor just after this event. */
  cursor: string
  /** data parsed as JSON. */
  json(): T
}

/** A reset: the server could not resume these topics exactly; refetch their state. */
export interface ResetInfo {
  topics: string[]
  /** 'expired', 'epoch', 'malformed' or 'mismatch'. */
  reason: string
  /** The stream's new cursor. */
  cursor: string
}

/** A stream the server refused for good (bad topic, token refused twice, ...). */
export interface StreamError {
  status: number
  message: string
  topics: string[]
}

/** Events is a map from event name to its data type, for typed listeners. */
export type EventMap = Record<string, unknown>

export interface SubscribeOptions<M extends EventMap = EventMap> {
  /** Every event of the subscription's topics, in order, once. */
  onEvent?: (ev: HeraldEvent<M[keyof M]>) => void
  onReset?: (info: ResetInfo) => void
  /** Every topic of the subscription has ended (final event, then 204); it is closed. */
  onEnd?: () => void
  onError?: (err: StreamError) => void
}

export interface Subscription<M extends EventMap = EventMap> {
  readonly topics: string[]
  /** Listens to one event name; returns a function that removes the listener. */
  on<K extends keyof M & string>(name: K, listener: (ev: HeraldEvent<M[K]>) => void): () => void
  close(): void
}

/** A value that can be read and watched; subscribe calls f at once and on every change. */
export interface Observable<T> {
  readonly value: T
  subscribe(f: (value: T) => void): () => void
}

export interface Herald {
  /** The sharing mode in use. */
  readonly mode: ShareMode
  readonly status: Observable<Status>
  subscribe<M extends EventMap = EventMap>(topics: string[], options?: SubscribeOptions<M>): Subscription<M>
  /** Closes every subscription of this page; a leading tab hands the stream to another. */
  close(): void
}

export function herald(options?: HeraldOptions): Herald

// The pure parts, exported for tests and tools.
export function parseCursor(id: string): string[] | null
export function formatCursor(positions: string[]): string
export function mergeCursor(topics: string[], known: Map<string, string>): string
export function newer(a: string, b?: string): boolean
export function jwtClaims(token: string): Record<string, unknown> | null
export function renewDelay(token: string, now?: number): number
export function backoff(attempt: number, base: number, cap?: number, rnd?: () => number): number
export function sseParser(
  onBlock: (block: { id?: string; event: string; data: string | null }) => void,
  onRetry: (ms: number) => void,
): (chunk: string) => void
