// Entry point `lex-password-agent/web-store`: the browser's session store
// (Web Storage + Web Locks + the `storage` event), apart from the main entry.
export {
  WebStorageSessionStore,
  type LockManagerLike,
  type StorageEventTarget,
  type StorageLike,
  type WebStorageSessionStoreOptions,
} from './web-storage-session-store.ts'
export type { LoggedOutMarker } from './core/session-store.ts'
