// Node-only entry point (`lex-password-agent/file-store`), kept apart so that
// browser bundles of the main entry never pull in node:fs.
export { FileSessionStore, type FileSessionStoreOptions } from './file-session-store.ts'
// Many accounts: one FileSessionStore per DID in a directory.
export { FileAccountStore, accountFileName, type FileAccountStoreOptions } from './file-account-store.ts'
