/**
 * The read path of `GET /v2/apps` and `GET /v2/groups` at 10,000 apps (issue 21,
 * docs/architecture/021-read-path-cache.md): each app's JSON is kept as text and a list answer is
 * the join of those texts, instead of 10,000 object trees built and walked by `JSON.stringify`
 * per request.
 *
 * Permissions still apply, and before any text is joined: a list holds `EncodedApp` items that
 * carry their app `id`, the guard's read filter (src/iam/guard.ts `filterList`, a
 * `preSerialization` hook) drops the items the caller may not read exactly as it drops plain
 * objects (it reads `.id`), and only then does `serializeWithEncoded` (the reply's serializer,
 * src/protocol/encoded-items.ts)
 * join what is left. A handler never sends a prepared string; an `EncodedApp` that reaches a
 * writer that does not know it turns back into the same JSON through `toJSON`.
 *
 * What is cached, and when it is stale: the app's definition part (everything up to `role`) is
 * cached per `App` object (apps are replaced on every change, never edited in place) and per
 * default role. The part that moves with tasks (task counts, deployments and the embeds: tasks,
 * lastTaskFailure, readiness, taskStats) is encoded per request by the same functions as
 * `appJson` — so a field added to the task JSON flows through — and costs nothing for an app
 * with no instances (its text is reused when equal to last time).
 */
import { EncodedItem } from '../../protocol/encoded-items.ts';
import type { App } from './app.ts';

/** One app's JSON (UTF-8 bytes) in a list answer; `id` is what the read filter checks. */
export class EncodedApp extends EncodedItem {
  constructor(
    readonly id: string,
    text: string,
  ) {
    super(text);
  }
}

interface Entry {
  role: string;
  /** The definition part's JSON without its closing `}`. */
  head: string;
  /** The last dynamic part (without its braces) and the item made with it. */
  dynamic?: string;
  item?: EncodedApp;
}

/** Keys the dynamic part sets: never also in the definition part (no duplicate keys). */
const DYNAMIC_KEYS = ['tasksStaged', 'tasksRunning', 'tasksHealthy', 'tasksUnhealthy', 'deployments', 'tasks', 'lastTaskFailure', 'readinessCheckResults', 'taskStats'];

export class AppJsonCache {
  private readonly entries = new WeakMap<App, Entry>();
  private readonly raw = new WeakMap<App, EncodedApp>();

  /** @param definition the definition part of an app's AppInfo, a fresh object (api.ts) */
  constructor(private readonly definition: (app: App) => Record<string, unknown>) {}

  /**
   * The app's AppInfo as text: `{...definition, ...dynamic}`, where `dynamic` (this request's task
   * counts, deployments and embeds, api.ts) is encoded now and the definition part comes cached.
   */
  appInfo(app: App, role: string, dynamic: Record<string, unknown>): EncodedApp {
    let e = this.entries.get(app);
    if (e === undefined || e.role !== role) {
      const def = this.definition(app);
      for (const k of DYNAMIC_KEYS) delete def[k];
      e = { role, head: JSON.stringify(def).slice(0, -1) };
      this.entries.set(app, e);
    }
    const text = JSON.stringify(dynamic).slice(1, -1);
    if (e.item !== undefined && e.dynamic === text) return e.item;
    e.dynamic = text;
    e.item = new EncodedApp(app.id, text === '' ? `${e.head}}` : `${e.head},${text}}`);
    return e.item;
  }

  /** The app's definition as stored (what `/v2/groups` shows without embeds), as text. */
  definitionOf(app: App): EncodedApp {
    let item = this.raw.get(app);
    if (item === undefined) this.raw.set(app, (item = new EncodedApp(app.id, JSON.stringify(app))));
    return item;
  }
}
